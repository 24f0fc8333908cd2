"""The gateway's side: the console provider's outbox (development and tours), and the signed
receipts and replies a webhook gateway posts back."""

import hmac
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from app.ack import replies
from app.auth.dependencies import AdminDep, DutyOfficerDep
from app.channels import ChannelName
from app.config import Settings, SettingsDep
from app.db import SessionDep, session_scope, utc_now
from app.errors import NotFound, Unauthorized
from app.notify import call_now as call_now_service
from app.notify import console, gateway, kannel, providers, webhook
from app.paging import Page, PageDep, make_page, seq_cursor
from app.phones import normalize_mobile
from app.text import Relayed, SingleLine
from app.warning import service as warning_service

router = APIRouter(prefix="/api/v1/dev", tags=["development"])


class OutboxItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    message_id: str
    call_id: str | None  # None for a contact's report link, sent outside any call
    warning_id: str | None
    hazard_id: str | None = None
    kind: str
    channel: str
    to: str
    text: str
    ack_url: str | None
    sent_at: datetime


@router.get("/outbox", response_model=Page[OutboxItem])
async def outbox(
    session: SessionDep,
    settings: SettingsDep,
    _: AdminDep,
    page: PageDep,
    warning_id: Annotated[str | None, Query(max_length=26, description="only this warning's messages")] = None,
) -> Page[OutboxItem]:
    """Messages the console provider was handed, newest first, of one warning with `warning_id`
    (only with the console provider)."""
    if not providers.keeps_outbox(settings):
        raise NotFound("The dev outbox exists only with the console provider.")
    rows = await console.outbox(session, warning_id=warning_id, before=seq_cursor(page), limit=page.fetch)
    return make_page(rows, page, key=lambda m: str(m.seq), item=OutboxItem.model_validate)


warning_actions = APIRouter(prefix="/api/v1/warnings", tags=["warnings"])


class CallNowOut(BaseModel):
    warning_id: str
    called_at: datetime
    calls: int
    repeated: bool


@warning_actions.post("/{warning_id}/call-now", response_model=CallNowOut)
async def call_now(
    warning_id: str,
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    principal: DutyOfficerDep,
    settings: SettingsDep,
) -> CallNowOut:
    """一键呼叫: one extra attempt, now, to every alert call still open (voice where the person has
    it, else SMS); deadlines unchanged; a second press within 60 s does nothing more."""
    warning = await warning_service.get_warning(session, warning_id, principal)
    warning_service.ensure_writable(principal, warning)
    plan = providers.plan(settings)
    done = await call_now_service.call_now(session, warning, plan=plan, actor=principal.name, now=utc_now())
    heartbeat = getattr(request.app.state, "heartbeat", None)
    if heartbeat is not None and not done.repeated:
        background.add_task(heartbeat.wake_sender)
    return CallNowOut(**asdict(done))


gateway_router = APIRouter(prefix="/api/v1/providers/webhook", tags=["gateway"])


class ReceiptIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # Any id up to this length: one nobody sent is skipped and counted, not refused.
    message_id: Annotated[SingleLine, Field(min_length=1, max_length=200)]
    status: Literal["delivered", "failed"]
    error: Annotated[Relayed | None, Field(max_length=2000)] = None


class InboundIn(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    inbound_id: Annotated[SingleLine, Field(min_length=1, max_length=100)]
    phone: Annotated[SingleLine, Field(alias="from", min_length=1, max_length=40)]
    channel: ChannelName
    text: Annotated[Relayed | None, Field(max_length=2000)] = None
    digits: Annotated[SingleLine | None, Field(max_length=20)] = None


async def _signed_body(request: Request, settings: Settings) -> bytes:
    """The raw body, if signed with JIAOYING_WEBHOOK_SECRET within five minutes; 401 otherwise."""
    return await webhook.verified_body(request, settings.webhook_secret)


@gateway_router.post("/receipts")
async def receipts(request: Request, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """Delivery receipts from the gateway (signed), one or an array: each message becomes
    delivered or failed. In an array, an unknown `message_id` is skipped and counted."""
    items, many = webhook.items_of(ReceiptIn, await _signed_body(request, settings))
    receipts = [gateway.Receipt(item.message_id, item.status, item.error, "webhook") for item in items]
    if not many:
        status = await gateway.record_receipt(session, items[0].message_id, items[0].status, items[0].error,
                                              provider="webhook", now=utc_now())  # fmt: skip
        return {"message_id": items[0].message_id, "status": status}
    statuses = await gateway.record_receipts(session, receipts, now=utc_now())
    results = [
        {"message_id": r.message_id, "status": status or "unknown"}
        for r, status in zip(receipts, statuses, strict=True)
    ]
    return {"results": results, "unknown": sum(1 for status in statuses if status is None)}


@gateway_router.post("/inbound")
async def inbound(request: Request, settings: SettingsDep) -> Any:
    """Replies from phones (signed), one or an array: 收到 (or 好的, 确认, ok, the voice key 1 ...)
    acknowledges; other texts are kept for the duty officer. Each reply is taken in its own
    transaction, so replies from many phones never wait on each other's locks."""
    items, many = webhook.items_of(InboundIn, await _signed_body(request, settings))
    results = []
    for reply in items:
        try:
            phone = normalize_mobile(reply.phone)
        except ValueError:  # nobody on any roster: changes nothing, and a gateway need not retry it
            results.append({"inbound_id": reply.inbound_id, "result": "unknown_phone", "acknowledged": []})
            continue
        async with session_scope() as session:
            taken = await replies.take_inbound(
                session, inbound_id=reply.inbound_id, phone=phone, channel=reply.channel, text=reply.text,
                digits=reply.digits, now=utc_now(),
            )  # fmt: skip
        results.append({"inbound_id": reply.inbound_id, **taken})
    if not many:
        return {key: value for key, value in results[0].items() if key != "inbound_id"}
    return {"results": results}


kannel_router = APIRouter(prefix=kannel.CALLBACKS + "/{secret}", tags=["gateway"])


def _kannel_caller(secret: str, settings: Settings) -> None:
    """Kannel proves itself by the secret in the path it was configured with; 401 otherwise."""
    expected = settings.kannel_secret
    if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
        raise Unauthorized("Wrong secret in the callback path; it must be JIAOYING_KANNEL_SECRET.")


@kannel_router.get("/dlr", response_class=PlainTextResponse)
async def kannel_report(
    secret: str,
    request: Request,
    settings: SettingsDep,
    message_id: Annotated[SingleLine, Query(alias="id", min_length=1, max_length=200)],
    report: Annotated[int, Query(alias="type", ge=0, le=1 << 16)],
) -> str:
    """A delivery report from Kannel (its dlr-url): 1 delivered, 2 or 16 failed; 8 (the SMSC took
    it) and 4 (buffered) change nothing. An id nobody sent is skipped: Kannel has nothing to retry."""
    _kannel_caller(secret, settings)
    state = kannel.REPORT_STATES.get(report)
    if state is not None:
        error = None if state == "delivered" else kannel.REPORT_ERRORS.get(report, f"Kannel report {report}")
        # Recorded with the reports arriving beside it, in one transaction (answered once committed).
        await request.app.state.receipts.submit(gateway.Receipt(message_id, state, error, "kannel"))
    return "ok"


@kannel_router.get("/mo", response_class=PlainTextResponse)
async def kannel_reply(
    secret: str,
    settings: SettingsDep,
    phone: Annotated[SingleLine, Query(alias="from", min_length=1, max_length=40)],
    inbound_id: Annotated[SingleLine, Query(alias="id", min_length=1, max_length=90)],
    text: Annotated[Relayed, Query(max_length=2000)] = "",
) -> str:
    """A reply from a phone, through Kannel's catch-all sms-service (get-url with mo-recode, so the
    text is UTF-8): taken as the webhook's replies are, once per Kannel message id. The answer's
    body is empty: nothing is sent back to the phone."""
    _kannel_caller(secret, settings)
    try:
        normalized = normalize_mobile(phone)
    except ValueError:
        return ""
    async with session_scope() as session:
        await replies.take_inbound(
            session, inbound_id=f"kannel:{inbound_id}", phone=normalized, channel="sms", text=text, digits=None,
            now=utc_now(),
        )  # fmt: skip
    return ""
