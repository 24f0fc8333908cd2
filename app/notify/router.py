"""The gateway's side: the console provider's outbox (development and tours), and the signed
receipts and replies a webhook gateway posts back."""

from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from app.auth.dependencies import AdminDep
from app.config import Settings, SettingsDep
from app.contact.phone import normalize_mobile
from app.db import SessionDep, utc_now
from app.errors import NotFound, Unauthorized, invalid_body
from app.notify import gateway, webhook
from app.notify.models import ConsoleMessage
from app.paging import Page, PageDep, make_page, seq_cursor

router = APIRouter(prefix="/api/v1/dev", tags=["development"])
ModelT = TypeVar("ModelT", bound=BaseModel)


class OutboxItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    message_id: str
    call_id: str
    warning_id: str
    kind: str
    channel: str
    to: str
    text: str
    ack_url: str | None
    sent_at: datetime


@router.get("/outbox", response_model=Page[OutboxItem])
async def outbox(session: SessionDep, settings: SettingsDep, _: AdminDep, page: PageDep) -> Page[OutboxItem]:
    """Messages the console provider was handed, oldest first (only with JIAOYING_PROVIDER=console)."""
    if settings.provider != "console":
        raise NotFound("The dev outbox exists only with the console provider.")
    query = select(ConsoleMessage).order_by(ConsoleMessage.seq).limit(page.fetch)
    after = seq_cursor(page)
    if after is not None:
        query = query.where(ConsoleMessage.seq > after)
    rows = list(await session.scalars(query))
    return make_page(rows, page, key=lambda m: str(m.seq), item=OutboxItem.model_validate)


gateway_router = APIRouter(prefix="/api/v1/providers/webhook", tags=["gateway"])


class ReceiptIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    message_id: Annotated[str, Field(min_length=1, max_length=26)]
    status: Literal["delivered", "failed"]
    error: Annotated[str | None, Field(max_length=2000)] = None


class InboundIn(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    inbound_id: Annotated[str, Field(min_length=1, max_length=100)]
    phone: Annotated[str, Field(alias="from", min_length=1, max_length=40)]
    channel: Literal["sms", "voice"]
    text: Annotated[str | None, Field(max_length=2000)] = None
    digits: Annotated[str | None, Field(max_length=20)] = None


async def _signed_body(request: Request, settings: Settings) -> bytes:
    """The raw body, if signed with JIAOYING_WEBHOOK_SECRET within five minutes; 401 otherwise."""
    body = await request.body()
    secret = settings.webhook_secret
    timestamp = request.headers.get("x-jiaoying-timestamp")
    given = request.headers.get("x-jiaoying-signature")
    if not secret or not webhook.verify(secret, timestamp, given, body):
        raise Unauthorized("Missing, wrong or stale X-Jiaoying-Signature (HMAC-SHA256 of '<timestamp>.<body>').")
    return body


def _parse(model: type[ModelT], body: bytes) -> ModelT:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise invalid_body(exc) from None


@gateway_router.post("/receipts")
async def receipts(request: Request, session: SessionDep, settings: SettingsDep) -> dict[str, str]:
    """A delivery receipt from the gateway (signed): the message becomes delivered or failed."""
    receipt = _parse(ReceiptIn, await _signed_body(request, settings))
    status = await gateway.record_receipt(session, receipt.message_id, receipt.status, receipt.error, now=utc_now())
    return {"message_id": receipt.message_id, "status": status}


@gateway_router.post("/inbound")
async def inbound(request: Request, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """A reply from a phone (signed): 收到 (or 1, ok, 好, 确认, the voice key 1) acknowledges."""
    reply = _parse(InboundIn, await _signed_body(request, settings))
    try:
        phone = normalize_mobile(reply.phone)
    except ValueError:  # nobody on any roster: changes nothing, and a gateway need not retry it
        return {"result": "unknown_phone", "acknowledged": []}
    return await gateway.take_inbound(
        session, inbound_id=reply.inbound_id, phone=phone, channel=reply.channel, text=reply.text,
        digits=reply.digits, now=utc_now(),
    )  # fmt: skip
