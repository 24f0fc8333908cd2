"""The gateway's side: the console provider's outbox (development and tours), and the signed
receipts and replies a webhook gateway posts back."""

import asyncio
import hmac
import logging
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

import orjson
from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.ack import replies
from app.auth.dependencies import AdminDep, DutyOfficerDep
from app.channels import ChannelName
from app.config import Settings, SettingsDep
from app.db import SessionDep, session_scope, utc_now
from app.errors import NotFound, Unauthorized, Unprocessable
from app.notify import aliyun, console, gateway, kannel, providers, webhook
from app.notify import call_now as call_now_service
from app.paging import Page, PageDep, make_page, seq_cursor
from app.phones import normalize_mobile
from app.text import Relayed, SingleLine
from app.warning import service as warning_service

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/dev", tags=["development"])
ModelT = TypeVar("ModelT", bound=BaseModel)


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


aliyun_router = APIRouter(prefix=aliyun.CALLBACKS + "/{secret}", tags=["gateway"])


def _aliyun_caller(secret: str, settings: Settings) -> None:
    """Aliyun's pushes carry no signature: they come to a path holding JIAOYING_ALIYUN_SECRET (and
    only Aliyun's addresses should reach it, README); 401 otherwise."""
    expected = settings.aliyun_secret
    if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
        raise Unauthorized("Wrong secret in the push path; it must be JIAOYING_ALIYUN_SECRET.")


class AliyunReport(BaseModel):
    """One `SmsReport` item, as Aliyun pushes it (other fields are ignored)."""

    phone_number: Annotated[str, Field(min_length=1, max_length=40)]
    biz_id: Annotated[str, Field(min_length=1, max_length=64)]
    success: bool
    err_code: Annotated[str, Field(max_length=100)] = ""
    err_msg: Annotated[str, Field(max_length=500)] = ""


class AliyunReply(BaseModel):
    """One `SmsUp` item: a text a phone sent to the sign's number."""

    phone_number: Annotated[str, Field(min_length=1, max_length=40)]
    content: Annotated[Relayed, Field(max_length=2000)] = ""
    sign_name: Annotated[str, Field(max_length=100)] = ""
    sequence_id: Annotated[int | Annotated[str, Field(min_length=1, max_length=64)], Field()]


@aliyun_router.post("/sms-report")
async def aliyun_reports(secret: str, request: Request, settings: SettingsDep) -> dict[str, Any]:
    """Delivery receipts, pushed as a JSON array; each finds its message by (BizId, number). Aliyun
    pushes again after 1, 5 and 10 minutes until it is answered {"code": 0}, and may push twice: a
    receipt already taken changes nothing. A receipt for a message not ours is skipped."""
    _aliyun_caller(secret, settings)
    reports = _items(await request.body(), AliyunReport)
    keys = {(report.biz_id, aliyun.national(report.phone_number)) for report in reports}
    found = {(ref.ref, ref.to): ref.message_id for ref in await gateway.refs("aliyun", {key[0] for key in keys})}
    receipts = []
    for report in reports:
        message_id = found.get((report.biz_id, aliyun.national(report.phone_number)))
        if message_id is not None:
            error = None if report.success else f"Aliyun {report.err_code}: {report.err_msg}".strip()
            receipts.append(gateway.Receipt(message_id, "delivered" if report.success else "failed", error, "aliyun"))
    # Committed together with the receipts arriving beside them, before the answer.
    await asyncio.gather(*(request.app.state.receipts.submit(receipt) for receipt in receipts))
    return {"code": 0, "msg": "成功"}


@aliyun_router.post("/sms-up")
async def aliyun_replies(secret: str, request: Request, settings: SettingsDep) -> dict[str, Any]:
    """Replies, pushed as a JSON array: answers or replies as any gateway's, each once (by Aliyun's
    sequence id)."""
    _aliyun_caller(secret, settings)
    for reply in _items(await request.body(), AliyunReply):
        if reply.sign_name and settings.aliyun_sign_name and reply.sign_name != settings.aliyun_sign_name:
            continue  # a reply to another sign of the same Aliyun account: not ours
        try:
            phone = normalize_mobile(reply.phone_number)
        except ValueError:
            continue
        async with session_scope() as session:
            await replies.take_inbound(
                session, inbound_id=f"aliyun:{reply.sequence_id}", phone=phone, channel="sms", text=reply.content,
                digits=None, now=utc_now(),
            )  # fmt: skip
    return {"code": 0, "msg": "成功"}


def _items(body: bytes, model: type[ModelT]) -> list[ModelT]:
    """A pushed JSON array (or one object) as items. A body that is no JSON is a 422; an item that
    does not read is logged and skipped, so one bad item does not make Aliyun push the good ones
    again and again, and then drop them."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Unprocessable("The push is not JSON; Aliyun pushes a JSON array.") from None
    items = document if isinstance(document, list) else [document]
    parsed = []
    for index, item in enumerate(items):
        try:
            parsed.append(model.model_validate(item))
        except ValidationError as exc:
            log.warning("Aliyun push: item %d skipped, not a %s: %s", index, model.__name__, exc.errors()[0]["msg"])
    return parsed


class AliyunCallReport(BaseModel):
    """One `VoiceReport` item: how a call ended, and the key pressed (IVR)."""

    call_id: Annotated[str, Field(min_length=1, max_length=64)]
    status_code: Annotated[str, Field(max_length=20)] = ""
    status_msg: Annotated[str, Field(max_length=500)] = ""
    dtmf: Annotated[str, Field(max_length=40)] = ""


@aliyun_router.post("/voice-report")
async def aliyun_call_reports(secret: str, request: Request, settings: SettingsDep) -> dict[str, Any]:
    """Call results, pushed as a JSON array: a call answered (200000) is delivered, any other end
    (no answer, busy, powered off) a failure on the message that brings the next attempt forward;
    the key 1 pressed answers, as any key press. Each finds its message by Aliyun's CallId; a copy
    pushed again changes nothing."""
    _aliyun_caller(secret, settings)
    reports = _items(await request.body(), AliyunCallReport)
    refs = {ref.ref: ref for ref in await gateway.refs(aliyun.VOICE_REF, {report.call_id for report in reports})}
    for report in reports:
        ref = refs.get(report.call_id)
        if ref is None:
            continue
        if report.dtmf:  # the key first: a failure recorded before it would bring on another call
            async with session_scope() as session:
                await replies.take_inbound(
                    session, inbound_id=f"aliyun-voice:{report.call_id}", phone=normalize_mobile(ref.to),
                    channel="voice", text=None, digits=report.dtmf[:1], now=utc_now(),
                )  # fmt: skip
        answered = report.status_code == aliyun.CALL_ANSWERED
        error = None if answered else f"Aliyun voice {report.status_code}: {report.status_msg}".strip()
        receipt = gateway.Receipt(ref.message_id, "delivered" if answered else "failed", error, "aliyun")
        await request.app.state.receipts.submit(receipt)
    return {"code": 0, "msg": "成功"}
