"""CSV for the file (归档): reports and a warning's calls as Excel opens them (UTF-8 with a BOM).

Written row by row as the rows are read, so a warning of a million calls streams in flat memory."""

import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any

from fastapi.responses import StreamingResponse
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.scope import calls_in_scope
from app.auth.service import Principal
from app.channels import label as channel_label
from app.db import session_scope
from app.models.call import Call, Feedback
from app.models.notify import Message
from app.phones import mask
from app.times import BEIJING

BOM = "\ufeff"
MESSAGE_STATES = {
    "pending": "待发", "sending": "发送中", "sent": "已发出", "delivered": "已送达", "failed": "失败",
    "cancelled": "已取消",
}  # fmt: skip
CALL_STATES = {
    "pending": "待发", "notified": "已通知", "acknowledged": "已应答", "unanswered": "未应答", "cancelled": "已取消",
}  # fmt: skip
ACK_METHODS = {"link": "链接", "sms_reply": "短信回复", "voice_key": "语音按键", "manual": "人工登记"}
STAGES = {"initial": "首报", "follow_up": "续报", "final": "终报"}
CALL_COLUMNS = [
    "联系人", "电话", "所在区域代码", "职务", "叫应类型", "应答区域", "状态", "各次呼叫（北京时间）",
    "应答时间（北京时间）", "应答方式", "是否超时", "应答说明", "反馈",
]  # fmt: skip
PAGE = 1000
CALLING_KINDS = ("alert", "escalation")  # not the closing notices (解除, 撤回), which are no attempt


def beijing(moment: datetime | None) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


# A cell Excel would read as a formula (=, +, -, @, or a tab or CR first), and a phone number it
# would read as a number, are written with a leading ' so that they stay text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """A value as a CSV cell Excel opens safely: text that could start a formula is quoted with '."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_line(values: Sequence[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([cell(value) for value in values])
    return buffer.getvalue()


async def csv_document(header: Sequence[str], batches: AsyncIterator[Iterable[Sequence[Any]]]) -> AsyncIterator[str]:
    """A CSV file, BOM and header first, then each batch of rows as it comes."""
    yield BOM + csv_line(header)
    async for batch in batches:
        yield "".join(csv_line(values) for values in batch)


def _attempts(messages: list[Message]) -> str:
    return "；".join(
        f"第{m.attempt}次 {beijing(m.sent_at or m.created_at)} {channel_label(m.channel)}"
        f"{'·' + m.provider if m.provider else ''} {MESSAGE_STATES.get(m.status, m.status)}"
        f"{'（' + m.error + '）' if m.error else ''}"
        for m in messages
    )


def _feedback(reports: list[Feedback]) -> str:
    parts = []
    for report in reports:
        moved = f"，已转移{report.evacuated}人" if report.evacuated is not None else ""
        text = "，".join(filter(None, [report.actions, report.note]))
        parts.append(f"{STAGES.get(report.stage, report.stage)} {beijing(report.created_at)}{moved}：{text}")
    return "；".join(parts)


def call_row(call: Call, messages: list[Message], reports: list[Feedback], *, masked: bool) -> list[Any]:
    regions = call.about_region_codes if call.kind == "escalation" else call.region_codes
    return [
        call.contact_name,
        mask(call.contact_phone) if masked else call.contact_phone,
        call.contact_region_code,
        call.contact_role,
        "预警叫应" if call.kind == "alert" else "逐级上报",
        " ".join(regions),
        CALL_STATES.get(call.status, call.status),
        _attempts(messages),
        beijing(call.acknowledged_at),
        ACK_METHODS.get(call.ack_method or "", call.ack_method or ""),
        "是" if call.late else "",
        " ".join(filter(None, [call.ack_by, call.ack_note])),
        _feedback(reports),
    ]


async def call_rows(
    session: AsyncSession, calls: Select[tuple[Call]], *, masked: bool
) -> AsyncIterator[list[list[Any]]]:
    """The rows of the calls the query selects (ordered by id), a page at a time, each with its
    messages and feedback read in one query per page."""
    after = ""
    while True:
        page = list(await session.scalars(calls.where(Call.id > after).order_by(Call.id).limit(PAGE)))
        if not page:
            return
        ids = [call.id for call in page]
        messages: dict[str, list[Message]] = {}
        for message in await session.scalars(
            select(Message)
            .where(Message.call_id.in_(ids), Message.kind.in_(CALLING_KINDS))
            .order_by(Message.attempt, Message.channel)
        ):
            messages.setdefault(message.call_id or "", []).append(message)
        reports: dict[str, list[Feedback]] = {}
        for report in await session.scalars(
            select(Feedback).where(Feedback.call_id.in_(ids)).order_by(Feedback.created_at)
        ):
            reports.setdefault(report.call_id, []).append(report)
        yield [call_row(c, messages.get(c.id, []), reports.get(c.id, []), masked=masked) for c in page]
        session.expunge_all()
        after = page[-1].id
        if len(page) < PAGE:
            return


def warning_calls_file(warning_id: str, principal: Principal) -> StreamingResponse:
    """The warning's calls to people in the caller's region as a CSV file, read as it streams in a
    read-only session of its own; an auditor sees the phone numbers masked."""
    calls = calls_in_scope(select(Call).where(Call.warning_id == warning_id), principal)

    async def rows() -> AsyncIterator[list[list[Any]]]:
        async with session_scope(read_only=True) as reading:
            async for batch in call_rows(reading, calls, masked=principal.role == "auditor"):
                yield batch

    return StreamingResponse(
        csv_document(CALL_COLUMNS, rows()),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="warning-{warning_id}-calls.csv"'},
    )
