"""Audit: the record's events, filtered and paged, and its verification."""

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from app.audit import anchors, scope
from app.audit import service as audit_service
from app.audit.schemas import EventOut
from app.auth.dependencies import require_role
from app.auth.service import Principal
from app.config import SettingsDep
from app.db import SessionDep
from app.paging import Page, PageDep, make_page, seq_cursor
from app.region import service as region_service
from app.times import Moment

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
AuditorDep = Annotated[Principal, Depends(require_role("auditor"))]


class VerifyOut(BaseModel):
    ok: bool
    checked: int
    first_bad_seq: int | None
    anchors_checked: int
    # What `ok` cannot vouch for: no chain was matched against a head published outside the database.
    warning: str | None = None


@router.get("/verify", response_model=VerifyOut)
async def verify(session: SessionDep, settings: SettingsDep, _: AuditorDep) -> VerifyOut:
    """Recompute every chain and match it against the heads published outside the database.
    `first_bad_seq` names the first event edited, inserted or deleted; for a chain recomputed
    wholesale, the first event after the last published head it still matches (heads are published
    once a minute: the edit lies there or after). With no published head to match, `warning` says
    that a record rewritten whole would pass."""
    published = await asyncio.to_thread(anchors.published_heads, settings.anchor_path)
    result = await audit_service.verify(session, published)
    warning = None
    if result.checked and not result.anchors_checked:
        where = f"the anchors file {settings.anchor_path}" if settings.anchor_path else "no anchors file (it is off)"
        warning = (
            f"No chain was matched against a head published outside the database ({where} holds none): "
            "the chains hold together, but a record recomputed wholesale would pass as well. Restore the "
            "anchors file, or its copy shipped off this machine, and verify again."
        )
        log.warning("audit verify: %s", warning)
    return VerifyOut(
        ok=result.ok, checked=result.checked, first_bad_seq=result.first_bad_seq,
        anchors_checked=result.anchors_checked, warning=warning,
    )  # fmt: skip


@router.get("/events", response_model=Page[EventOut])
async def events(
    session: SessionDep,
    principal: AuditorDep,
    page: PageDep,
    since: Moment | None = None,
    until: Moment | None = None,
    type: Annotated[str | None, Query(max_length=40)] = None,
    warning_id: Annotated[str | None, Query(max_length=26)] = None,
    region_code: Annotated[str | None, Query(max_length=12)] = None,
) -> Page[EventOut]:
    """Events in order (`seq`), filtered; a key scoped to a region sees the events of its subtree."""
    within = (await region_service.get_region(session, region_code)).path if region_code else None
    rows = await scope.events(
        session, after=seq_cursor(page), since=since, until=until, type=type, warning_id=warning_id,
        within=within, reader_within=principal.within, limit=page.fetch,
    )  # fmt: skip
    masked = principal.role == "auditor"
    return make_page(rows, page, key=lambda e: str(e.seq), item=lambda e: EventOut.of(e, masked=masked))
