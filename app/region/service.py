"""Reading the region tree."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound, Unprocessable
from app.models.region import PATH_SEPARATOR, Region, subtree_filter


def normalize_code(raw: str) -> str | None:
    """A 12-digit statistical code from a 6- or 12-digit input, or None if it is neither."""
    code = raw.strip()
    if not code.isascii() or not code.isdigit():
        return None
    if len(code) == 6:
        return code + "000000"
    return code if len(code) == 12 else None


def require_code(raw: str, loc: tuple[str | int, ...] = ("path", "code")) -> str:
    """The 12-digit form of a code; 422 naming where it came from when it is not a region code."""
    code = normalize_code(raw)
    if code is None:
        raise Unprocessable(
            f"{raw!r} is not a region code; use the 6- or 12-digit statistical code.",
            errors=[{"loc": list(loc), "msg": "not a 6- or 12-digit region code"}],
        )
    return code


async def get_region(session: AsyncSession, raw_code: str) -> Region:
    """The region with this code (6 or 12 digits), or 404."""
    code = require_code(raw_code)
    region = await session.get(Region, code)
    if region is None:
        raise NotFound(f"No region has code {code}; import it first.")
    return region


async def get_ancestry(session: AsyncSession, region: Region) -> list[Region]:
    """The regions from the root down to this one."""
    codes = [code for code in region.path.split(PATH_SEPARATOR) if code]
    rows = {r.code: r for r in await session.scalars(select(Region).where(Region.code.in_(codes)))}
    return [rows[code] for code in codes if code in rows]


async def list_children(session: AsyncSession, region: Region, *, limit: int, cursor: str | None) -> list[Region]:
    """The direct children of a region, by code."""
    query = select(Region).where(Region.parent_code == region.code).order_by(Region.code).limit(limit)
    if cursor:
        query = query.where(Region.code > cursor)
    return list(await session.scalars(query))


async def get_paths(session: AsyncSession, codes: set[str]) -> dict[str, str]:
    """Paths of the given regions that exist, by code."""
    paths: dict[str, str] = {}
    ordered = sorted(codes)
    for start in range(0, len(ordered), 1000):
        chunk = ordered[start : start + 1000]
        rows = await session.execute(select(Region.code, Region.path).where(Region.code.in_(chunk)))
        paths.update({code: path for code, path in rows.tuples()})
    return paths


async def search_regions(
    session: AsyncSession, q: str, *, within: str | None, limit: int, cursor: str | None = None
) -> list[Region]:
    """Regions (not abolished) whose code starts with `q` (digits) or whose name contains it, inside
    the subtree `within` (a path; None: everywhere), in code order, which puts a county before its
    townships and villages. A code prefix is a range on the primary key; a name is matched while
    walking it in order, stopping at `limit`."""
    q = q.strip()
    query = select(Region).where(Region.abolished.is_(False)).order_by(Region.code).limit(limit)
    if q.isascii() and q.isdigit():
        # ':' is the character after '9': every code starting with q lies in [q, q + ':').
        query = query.where(Region.code >= q, Region.code < q + ":")
    else:
        query = query.where(Region.name.contains(q, autoescape=True))
    if within is not None:
        query = query.where(subtree_filter(Region.path, within))
    if cursor:
        query = query.where(Region.code > cursor)
    return list(await session.scalars(query))


async def path_names(session: AsyncSession, regions: list[Region]) -> dict[str, str]:
    """Each region's ancestors by name ("新疆维吾尔自治区 乌鲁木齐市"), in one query, by code."""
    codes = {code for region in regions for code in region.path.split(PATH_SEPARATOR)[:-2] if code}
    rows = await session.execute(select(Region.code, Region.name).where(Region.code.in_(codes))) if codes else None
    names = dict(rows.tuples().all()) if rows is not None else {}
    return {
        region.code: " ".join(names[code] for code in region.path.split(PATH_SEPARATOR)[:-2] if code in names)
        for region in regions
    }


async def by_code(session: AsyncSession, codes: list[str]) -> dict[str, Region]:
    """The known regions among these codes, by code."""
    if not codes:
        return {}
    return {region.code: region for region in await session.scalars(select(Region).where(Region.code.in_(codes)))}
