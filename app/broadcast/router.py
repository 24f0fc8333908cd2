"""Loudspeaker routes, and the loudspeaker platform's receipts."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from app.auth.dependencies import DutyOfficerDep, PrincipalDep
from app.broadcast import receipts as receipt_service
from app.broadcast import service as broadcast_service
from app.broadcast.schemas import LoudspeakerIn, LoudspeakerOut, ReceiptIn
from app.config import SettingsDep
from app.db import SessionDep, utc_now
from app.errors import NotFound
from app.models.broadcast import Loudspeaker
from app.notify import webhook
from app.paging import Page, PageDep, make_page

router = APIRouter(prefix="/api/v1/loudspeakers", tags=["loudspeakers"])
receipts_router = APIRouter(prefix="/api/v1/providers/broadcast", tags=["gateway"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=LoudspeakerOut)
async def add_loudspeaker(data: LoudspeakerIn, session: SessionDep, principal: DutyOfficerDep) -> Loudspeaker:
    """Register a village's or township's loudspeaker (大喇叭) and the languages it speaks."""
    return await broadcast_service.add_loudspeaker(session, data, principal=principal, now=utc_now())


@router.get("", response_model=Page[LoudspeakerOut])
async def list_loudspeakers(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    region_code: Annotated[str | None, Query(max_length=12)] = None,
) -> Page[LoudspeakerOut]:
    """Active loudspeakers of a subtree (the caller's by default)."""
    rows = await broadcast_service.list_loudspeakers(
        session, principal=principal, region_code=region_code, limit=page.fetch, cursor=page.cursor
    )
    return make_page(rows, page, key=lambda s: s.id, item=LoudspeakerOut.model_validate)


@router.get("/{loudspeaker_id}", response_model=LoudspeakerOut)
async def get_loudspeaker(loudspeaker_id: str, session: SessionDep, principal: PrincipalDep) -> Loudspeaker:
    """One loudspeaker (inside the caller's subtree), active or taken off the record."""
    return await broadcast_service.get_loudspeaker(session, loudspeaker_id, principal=principal)


@router.delete("/{loudspeaker_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_loudspeaker(loudspeaker_id: str, session: SessionDep, principal: DutyOfficerDep) -> Response:
    """Take a loudspeaker off the record; what it broadcast stays."""
    speaker = await broadcast_service.get_loudspeaker(session, loudspeaker_id, principal=principal)
    await broadcast_service.remove_loudspeaker(session, speaker, principal=principal, now=utc_now())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@receipts_router.post("/receipts")
async def receipts(request: Request, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """The platform's receipts (signed with JIAOYING_BROADCAST_SECRET), one or an array: each
    broadcast becomes delivered (played) or failed. An unknown `broadcast_id` is skipped and counted."""
    items, many = webhook.items_of(ReceiptIn, await webhook.verified_body(request, settings.broadcast_secret))
    statuses = await receipt_service.record(session, items, now=utc_now())
    results = [{"broadcast_id": item.broadcast_id, "status": found or "unknown"}
               for item, found in zip(items, statuses, strict=True)]  # fmt: skip
    if not many:
        if statuses[0] is None:
            raise NotFound(f"No broadcast has id {items[0].broadcast_id!r}.")
        return results[0]
    return {"results": results, "unknown": sum(1 for found in statuses if found is None)}
