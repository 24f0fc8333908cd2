"""The language each person reads: their own, else the default of their region or the nearest
region above it that has one (a county's Kazakh townships, say), else Chinese. A language whose
catalog has since been removed reads as Chinese."""

import itertools
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app import i18n
from app.db import chunks
from app.models.contact import Contact
from app.models.region import LEVELS, Region

# A contact's region and every level above it (village, township, county, prefecture, province).
_ABOVE = len(LEVELS) - 1


def _effective() -> tuple[Any, Any]:
    """The statement's FROM and the language expression: the contact's own language, else the
    nearest region's default from its own region upwards, else Chinese (one pass over primary keys)."""
    levels = [aliased(Region) for _ in range(_ABOVE + 1)]
    joined = select(Contact.id).join(levels[0], levels[0].code == Contact.region_code)
    for below, above in itertools.pairwise(levels):
        joined = joined.outerjoin(above, above.code == below.parent_code)
    return joined, func.coalesce(Contact.language, *(level.language for level in levels), i18n.SOURCE)


async def languages_of(session: AsyncSession, contact_ids: Iterable[str]) -> dict[str, str]:
    """Contact id -> the language they read (a contact since removed: absent)."""
    joined, language = _effective()
    found: dict[str, str] = {}
    for chunk in chunks(sorted(set(contact_ids))):
        rows = await session.execute(joined.add_columns(language).where(Contact.id.in_(chunk)))
        found.update((contact_id, i18n.catalog(lang).language) for contact_id, lang in rows.tuples())
    return found


async def language_of_phone(session: AsyncSession, phone: str) -> set[str]:
    """The languages of the active roster entries of a phone (a person may answer for several regions)."""
    ids = await session.scalars(select(Contact.id).where(Contact.phone == phone, Contact.active))
    return set((await languages_of(session, list(ids))).values())
