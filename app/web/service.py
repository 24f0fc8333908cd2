"""What the console pages read: warnings at a glance, a warning's board, and the people still silent.

Reads only, through the same models and scope rules as the API: a scoped key sees calls to people
in its own subtree, and acts only on regions inside it."""

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import warning_chain
from app.auth.scope import calls_in_scope, in_subtree
from app.auth.service import Principal
from app.call import tally
from app.call.service import ANSWERABLE
from app.channels import label as channel_label
from app.config import Settings
from app.db import utc_now
from app.models.audit import REPLIES, AuditEvent
from app.models.call import Call, Feedback
from app.models.notify import Message
from app.models.region import Region
from app.models.warning import OPEN_STATUSES, TO_CONFIRM, Warning, WarningRegion
from app.notify import health, providers
from app.warning import lists as warning_lists
from app.warning import service as warning_service
from app.warning.schemas import WarningOut

GRID_MAX = 1500  # above this many targeted regions, the board asks for one county at a time
LIST_MAX = 300
SILENT = ANSWERABLE  # calls nobody has answered yet, that an answer may still close
TOP_LEVELS = ("province", "prefecture", "county")


async def warnings_at_a_glance(
    session: AsyncSession, principal: Principal
) -> tuple[list[WarningOut], list[WarningOut]]:
    """Open warnings in the caller's region (newest first), and the latest closed ones."""
    open_ones: list[Warning] = []
    for status in OPEN_STATUSES:
        open_ones += await warning_lists.list_warnings(
            session, principal=principal, status=status, mode=None, since=None, limit=200, cursor=None
        )
    open_ones.sort(key=lambda w: w.id, reverse=True)
    latest = await warning_lists.list_warnings(
        session, principal=principal, status=None, mode=None, since=None, limit=40, cursor=None
    )
    closed = [w for w in latest if w.status not in OPEN_STATUSES][:15]
    return [await warning_service.warning_out(session, w) for w in open_ones], [
        await warning_service.warning_out(session, w) for w in closed
    ]


def cell_state(state: str, escalated: bool) -> str:
    """A region's state as the board colours it: reached, waiting, escalated, uncovered, unreachable."""
    if state == "unreached":
        return "escalated" if escalated else "waiting"
    return state


@dataclass
class Cell:
    code: str
    name: str
    state: str


@dataclass
class Row:
    code: str
    name: str
    state: str | None  # None when the township itself is not targeted
    cells: list[Cell] = field(default_factory=list)


@dataclass
class CountyTally:
    code: str
    name: str
    states: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.states.values())


@dataclass
class Board:
    top: list[Cell]  # targeted regions above township level (the county's own people)
    rows: list[Row]  # townships, each with its villages
    counties: list[CountyTally]  # instead of rows, when the warning is too large to draw whole
    county: str | None


async def _names(session: AsyncSession, codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    found = await session.execute(select(Region.code, Region.name).where(Region.code.in_(codes)))
    return dict(found.tuples().all())


async def board(session: AsyncSession, warning: Warning, county: str | None) -> Board:
    """The warning's targeted regions: townships as rows, their villages as cells; one county at a
    time (its first six digits) when there are more than the page can draw."""
    prefix = county[:6] if county and county.isdigit() else None
    groups = await tally.regions(session, warning.id)
    if sum(group.regions for group in groups) > GRID_MAX and prefix is None:
        tallies: dict[str, dict[str, int]] = {}
        for group in groups:
            shown = cell_state(group.state, group.escalated)
            states = tallies.setdefault(group.county + "000000", {})
            states[shown] = states.get(shown, 0) + group.regions
        names = await _names(session, set(tallies))
        counties = [CountyTally(code, names.get(code, code), states) for code, states in sorted(tallies.items())]
        return Board(top=[], rows=[], counties=counties, county=None)
    of_warning = WarningRegion.warning_id == warning.id
    query = select(WarningRegion).where(of_warning).order_by(WarningRegion.region_code)
    if prefix is not None:
        query = query.where(WarningRegion.region_code.startswith(prefix))
    top: list[Cell] = []
    rows_by_code: dict[str, Row] = {}
    villages: list[WarningRegion] = []
    for region in await session.scalars(query):
        cell = Cell(region.region_code, region.name, cell_state(region.state, region.escalated_at is not None))
        if region.level in TOP_LEVELS:
            top.append(cell)
        elif region.level == "township":
            rows_by_code[region.region_code] = Row(region.region_code, region.name, cell.state)
        else:
            villages.append(region)
    missing = {v.parent_code for v in villages if v.parent_code and v.parent_code not in rows_by_code}
    for code, name in (await _names(session, missing)).items():
        rows_by_code[code] = Row(code, name, None)
    for village in villages:
        row = rows_by_code.get(village.parent_code or "")
        if row is None:
            row = rows_by_code.setdefault(village.parent_code or "", Row(village.parent_code or "", "其他", None))
        row.cells.append(
            Cell(village.region_code, village.name, cell_state(village.state, village.escalated_at is not None))
        )
    return Board(top=top, rows=[rows_by_code[code] for code in sorted(rows_by_code)], counties=[], county=prefix)


async def silent_calls(session: AsyncSession, warning: Warning, principal: Principal) -> tuple[list[Call], int]:
    """Calls nobody has answered yet (the overdue first, then by region), at most LIST_MAX, and how
    many there are. Each status is read in region order from its stretch of the index, so the first
    page costs the same for a village's warning and the country's."""
    silent: list[Call] = []
    for status in sorted(SILENT, reverse=True):  # unanswered (overdue), pending, notified
        query = select(Call).where(Call.warning_id == warning.id, Call.status == status)
        query = calls_in_scope(query, principal).order_by(Call.contact_region_code, Call.id)
        silent += await session.scalars(query.limit(LIST_MAX - len(silent)))
        if len(silent) == LIST_MAX:
            break
    if principal.within is None:
        count = sum(group.calls for group in await tally.calls(session, warning.id) if group.status in SILENT)
    else:
        where = (Call.warning_id == warning.id, Call.status.in_(SILENT))
        count = await session.scalar(calls_in_scope(select(func.count()).select_from(Call).where(*where), principal))
    return silent, count or 0


async def region_names(session: AsyncSession, warning: Warning, calls: list[Call]) -> dict[str, str]:
    """Names of the regions the calls answer for, or are about (escalations), by code."""
    codes = {code for call in calls for code in (*call.region_codes, *call.about_region_codes)}
    if not codes:
        return {}
    found = await session.execute(
        select(WarningRegion.region_code, WarningRegion.name).where(
            WarningRegion.warning_id == warning.id, WarningRegion.region_code.in_(codes)
        )
    )
    names = dict(found.tuples().all())
    names.update(await _names(session, codes - set(names)))  # a supervisor's own region
    return names


async def feedback_received(
    session: AsyncSession, warning: Warning, principal: Principal
) -> list[tuple[Feedback, str, str]]:
    """Reports back (首报/续报/终报) on the warning's calls, newest first, with who and where."""
    query = select(Feedback, Call.contact_name, Call.contact_region_code).join(Call, Call.id == Feedback.call_id)
    query = calls_in_scope(query.where(Feedback.warning_id == warning.id), principal)
    rows = await session.execute(query.order_by(Feedback.created_at.desc()).limit(LIST_MAX))
    return [(feedback, name, code) for feedback, name, code in rows.tuples()]


@dataclass
class HeldBack:
    """A person's attempts a per-callee limit held back (a cloud rations calls to one number):
    how many were merged into the next, and when the one waiting may go."""

    merged: int = 0
    waiting_until: Any = None


async def held_back(session: AsyncSession, calls: list[Call], *, now: Any) -> dict[str, HeldBack]:
    """Of these calls, those whose attempts a per-callee limit held back, by call id."""
    if not calls:
        return {}
    query = select(Message.call_id, Message.status, Message.due_at).where(
        Message.call_id.in_([call.id for call in calls]),
        or_(
            (Message.status == "cancelled") & Message.error.contains("to this number is limited"),
            # Waiting for the limit (a retry after a gateway's failure carries its error instead).
            (Message.status == "pending") & (Message.due_at > now) & (Message.attempt > 0) & Message.error.is_(None),
        ),
    )
    found: dict[str, HeldBack] = {}
    for call_id, status, due_at in (await session.execute(query)).tuples():
        held = found.setdefault(call_id or "", HeldBack())
        if status == "cancelled":
            held.merged += 1
        else:
            held.waiting_until = due_at
    return found


@dataclass
class Reply:
    """A text from a person called, that answered nothing ("没收到链接，打不开"): the duty officer reads it."""

    at: Any
    name: str
    region: str
    channel: str
    text: str


async def replies_received(session: AsyncSession, warning: Warning, principal: Principal) -> list[Reply]:
    """SMS replies that were not answers, kept on the warning's timeline, newest first, of the people
    in the caller's subtree."""
    query = select(AuditEvent.at, Call.contact_name, Call.contact_region_code, AuditEvent.data).join(
        Call, Call.id == AuditEvent.call_id
    )
    # The type as written in the partial index that finds them (no parameter: a generic plan keeps it).
    query = query.where(AuditEvent.chain == warning_chain(warning.id), text(REPLIES))
    rows = await session.execute(calls_in_scope(query, principal).order_by(AuditEvent.seq.desc()).limit(LIST_MAX))
    found = rows.tuples().all()
    names = await _names(session, {code for _, _, code, _ in found})
    return [
        Reply(at=at, name=name, region=names.get(code, code), channel=data.get("channel") or "sms",
              text=data.get("text") or data.get("digits") or "")
        for at, name, code, data in found
    ]  # fmt: skip


async def regions_to_confirm(session: AsyncSession, warning: Warning, principal: Principal) -> list[WarningRegion]:
    """Regions a person should check by other means: nobody on record, nobody left to call, or
    escalated and still silent; those in the caller's subtree."""
    query = (
        select(WarningRegion)
        .where(WarningRegion.warning_id == warning.id)
        .where(text(TO_CONFIRM))  # as written in the partial index that finds them: no parameters
        .where(
            or_(
                WarningRegion.state.in_(("uncovered", "unreachable")),
                (WarningRegion.state == "unreached") & WarningRegion.escalated_at.is_not(None),
            )
        )
        .order_by(WarningRegion.region_code)
        .limit(LIST_MAX)
    )
    return list(await session.scalars(in_subtree(query, WarningRegion.region_code, principal.within)))


async def channel_alerts(settings: Settings) -> list[str]:
    """What the duty officer must know of the channels: one down (every gateway failing) or one
    no provider is configured for."""
    states = await health.channel_states(providers.chains(settings), now=utc_now())
    down = [channel_label(c) for c, state in states.items() if state == "degraded"]
    missing = [channel_label(c) for c, state in states.items() if state == "unavailable"]
    alerts = []
    if down:
        alerts.append(f"{'、'.join(down)}通道中断：所有网关均无响应，消息正在排队并自动重试。"
                      "请用电话、电台或上门叫应，并在下方人工登记应答。")  # fmt: skip
    if missing:
        alerts.append(f"{'、'.join(missing)}通道未配置：没有网关承载，呼叫改由责任人的其他通道发出。")
    return alerts
