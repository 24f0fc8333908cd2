"""What a key may see and touch, as SQL the database filters and pages (never Python filters after
an OFFSET page), the way polarsource/polar's repositories take the caller: a key scoped to a region
sees the rows of people and places inside its subtree; an admin key, or one without a region, sees
everything (`Principal.within` is None)."""

from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.audit import db as audit_db
from app.auth.service import Principal
from app.errors import Forbidden
from app.models.call import Call
from app.models.region import Region, subtree_filter
from app.models.warning import Warning
from app.region import service as region_service


def in_subtree(query: Select[Any], code: InstrumentedAttribute[str], path: str | None) -> Select[Any]:
    """The query's rows whose region (the `code` column) lies in the subtree at `path`; all of them
    for None. A join on the region's primary key, then its path's index range."""
    if path is None:
        return query
    return query.join(Region, Region.code == code).where(subtree_filter(Region.path, path))


def overlaps(principal: Principal, warning: Warning) -> bool:
    """Whether a warning's areas overlap the caller's subtree (either holds the other): for one
    warning read already; warnings_in_scope says the same in SQL."""
    own = principal.within
    if own is None:
        return True
    return any(path.startswith(own) or own.startswith(path) for path in warning.area_paths)


def covers_warning(principal: Principal, warning: Warning) -> bool:
    """Whether every area of a warning lies in the caller's subtree (it may change the warning)."""
    return all(principal.covers(path) for path in warning.area_paths)


def warnings_in_scope(query: Select[Any], principal: Principal) -> Select[Any]:
    """Only warnings whose areas overlap the caller's subtree (either holds the other), in SQL."""
    if principal.within is None:
        return query
    return query.where(audit_db.warnings_overlapping(principal.within))


def calls_in_scope(query: Select[Any], principal: Principal) -> Select[Any]:
    """Only calls to people in the caller's subtree."""
    return in_subtree(query, Call.contact_region_code, principal.within)


async def covers_call(session: AsyncSession, call: Call, principal: Principal) -> bool:
    """Whether the person called answers for a region inside the caller's subtree."""
    if principal.within is None:
        return True
    paths = await region_service.get_paths(session, {call.contact_region_code})
    path = paths.get(call.contact_region_code)
    return path is not None and principal.covers(path)


def ensure_covers(principal: Principal, path: str, code: str) -> None:
    """403 unless the region lies inside the principal's subtree."""
    if not principal.covers(path):
        raise Forbidden(f"Region {code} is outside the region your key is limited to ({principal.region_code}).")
