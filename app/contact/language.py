"""The language each person reads: their own, else the default of their region or the nearest
region above it that has one (a county's Kazakh townships, say), else Chinese. A language whose
catalog has since been removed reads as Chinese."""

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import i18n
from app.contact.models import Contact
from app.db import chunks
from app.region.models import Region
from app.region.service import PATH_SEPARATOR


async def _defaults(session: AsyncSession, paths: set[str]) -> dict[str, str]:
    """Each region path -> the default language of the region or the nearest one above with one."""
    codes = {code for path in paths for code in path.split(PATH_SEPARATOR) if code}
    set_here: dict[str, str] = {}
    for chunk in chunks(sorted(codes)):
        rows = await session.execute(
            select(Region.code, Region.language).where(Region.code.in_(chunk), Region.language.is_not(None))
        )
        set_here.update((code, language) for code, language in rows.tuples() if language)
    found = {}
    for path in paths:
        below_first = reversed([code for code in path.split(PATH_SEPARATOR) if code])
        found[path] = next((set_here[code] for code in below_first if code in set_here), i18n.SOURCE)
    return found


async def languages_of(session: AsyncSession, contact_ids: Iterable[str]) -> dict[str, str]:
    """Contact id -> the language they read (a contact since removed: absent)."""
    rows: list[tuple[str, str | None, str]] = []
    for chunk in chunks(sorted(set(contact_ids))):
        found = await session.execute(
            select(Contact.id, Contact.language, Region.path)
            .join(Region, Region.code == Contact.region_code)
            .where(Contact.id.in_(chunk))
        )
        rows.extend(found.tuples().all())
    defaults = await _defaults(session, {path for _, own, path in rows if own is None})
    return {contact_id: i18n.catalog(own or defaults[path]).language for contact_id, own, path in rows}


async def language_of_phone(session: AsyncSession, phone: str) -> set[str]:
    """The languages of the active roster entries of a phone (a person may answer for several regions)."""
    ids = await session.scalars(select(Contact.id).where(Contact.phone == phone, Contact.active))
    return set((await languages_of(session, list(ids))).values())
