"""Aliyun's pushes (阿里云 短信 and 语音服务): delivery receipts, replies and call results, each
found by Aliyun's own reference and taken as any gateway's."""

import asyncio
import hmac
import logging
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, ValidationError

from app.ack import replies
from app.config import Settings, SettingsDep
from app.db import session_scope, utc_now
from app.errors import Unauthorized, Unprocessable
from app.notify import aliyun, gateway
from app.phones import normalize_mobile
from app.text import Relayed

log = logging.getLogger(__name__)
ModelT = TypeVar("ModelT", bound=BaseModel)
router = APIRouter(prefix=aliyun.CALLBACKS + "/{secret}", tags=["gateway"])


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


@router.post("/sms-report")
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


@router.post("/sms-up")
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


@router.post("/voice-report")
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
