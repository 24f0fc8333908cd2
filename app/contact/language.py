"""The language each person reads: their own, else their region's default, else Chinese."""

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import i18n
from app.contact.models import Contact
from app.db import chunks
from app.region.models import Region

# The language of a contact row joined to its region (Contact join Region on region_code).
EFFECTIVE = func.coalesce(Contact.language, Region.language, i18n.SOURCE)


async def languages_of(session: AsyncSession, contact_ids: Iterable[str]) -> dict[str, str]:
    """Contact id -> the language they read (a contact since removed: absent)."""
    found: dict[str, str] = {}
    for chunk in chunks(sorted(set(contact_ids))):
        rows = await session.execute(
            select(Contact.id, EFFECTIVE).join(Region, Region.code == Contact.region_code).where(Contact.id.in_(chunk))
        )
        found.update(rows.tuples().all())
    return found


async def language_of_phone(session: AsyncSession, phone: str) -> set[str]:
    """The languages of the active roster entries of a phone (a person may answer for several regions)."""
    rows = await session.scalars(
        select(EFFECTIVE).join(Region, Region.code == Contact.region_code).where(Contact.phone == phone, Contact.active)
    )
    return set(rows)
