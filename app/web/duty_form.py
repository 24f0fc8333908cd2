"""The duty roster's form: one row per shift as typed (datetime-local, 北京时间), read into the
API's shifts, and the service's refusals put back on the rows in Chinese."""

import itertools
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from pydantic import ValidationError
from starlette.datastructures import FormData

from app.duty.schemas import ShiftIn
from app.errors import Unprocessable
from app.models.duty import DutyShift
from app.times import BEIJING

WEEK = 7

ERROR_TEXTS = {
    "ended": "这个班次已经结束，不能再排。",
    "order": "结束时间须晚于开始时间。",
    "too_long": "一个班次最长31天，请检查日期。",
    "unknown_contact": "所选人员不在名册上（可能已停用）。",
    "other_office": "只能选本单位名册上的人员。",
    "overlaps_history": "与已经结束的班次时间重叠。",
    "overlaps_in_force": "当前班次未保留，将于现在结束；新班次与它重叠，最早只能从现在开始。",
    "too_early": "新班次最早从24小时前开始；更早的值班已成记录，不能补排。",
}


@dataclass
class Row:
    """One line of the roster's form, as typed (datetime-local, 北京时间)."""

    starts_at: str = ""
    ends_at: str = ""
    officer_id: str = ""
    leader_id: str = ""
    # The times of a shift on record to the microsecond, so that a row saved unchanged stays the
    # same shift (the form's fields hold minutes).
    starts_exact: str = ""
    ends_exact: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def blank(self) -> bool:
        return not (self.starts_at or self.ends_at or self.officer_id or self.leader_id)


def local(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M")


def rows_of(shifts: list[DutyShift]) -> list[Row]:
    return [
        Row(local(s.starts_at), local(s.ends_at), s.officer_id, s.leader_id or "", s.starts_at.isoformat(),
            s.ends_at.isoformat())
        for s in shifts
    ]  # fmt: skip


def rows_from(form: FormData) -> list[Row]:
    names = ("starts_at", "ends_at", "officer_id", "leader_id", "starts_exact", "ends_exact")
    columns = [[str(v).strip() for v in form.getlist(name)] for name in names]
    count = min(max(len(column) for column in columns), 1000)

    def cell(column: list[str], i: int) -> str:
        return column[i] if i < len(column) else ""

    starts, ends, officers, leaders, starts_exact, ends_exact = columns
    return [
        Row(cell(starts, i), cell(ends, i), cell(officers, i), cell(leaders, i), cell(starts_exact, i),
            cell(ends_exact, i))
        for i in range(count)
    ]  # fmt: skip


def week_rows(after: datetime, changes: list[time]) -> list[Row]:
    """A week of shifts, one per change-over, from the one that began the stretch `after` is in."""
    here = after.astimezone(BEIJING)
    points = [
        datetime.combine(here.date() + timedelta(days=day), change, tzinfo=BEIJING)
        for day in range(-1, WEEK + 1)
        for change in changes
    ]
    # From the change-over that began the stretch `after` falls in: the shift in force comes first.
    begun = [point for point in points if point <= here]
    first = begun[-1] if begun else points[0]
    points = [point for point in points if point >= first][: WEEK * len(changes) + 1]
    return [Row(local(start), local(end)) for start, end in itertools.pairwise(points)]


def changes_of(text: str) -> list[time]:
    found = []
    for part in text.replace("，", ",").split(","):
        try:
            found.append(time.fromisoformat(part.strip()).replace(tzinfo=None))
        except ValueError:
            continue
    return sorted(set(found)) or [time(8), time(20)]


def _moment(typed: str, exact: str) -> datetime:
    """A time from the form: the shift's own time when the field still shows it, else as typed (北京时间)."""
    if exact:
        kept = datetime.fromisoformat(exact)
        if kept.tzinfo is not None and local(kept) == typed:
            return kept
    moment = datetime.fromisoformat(typed)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=BEIJING)


def shifts_of(rows: list[Row]) -> tuple[list[ShiftIn], list[int]]:
    """The filled rows as the API's shifts, and which row each came from; a row's own mistakes go
    on the row."""
    shifts: list[ShiftIn] = []
    origin: list[int] = []
    for index, row in enumerate(rows):
        if row.blank:
            continue
        if not (row.starts_at and row.ends_at and row.officer_id):
            row.errors.append("请填写开始、结束时间并选择值班员。")
            continue
        try:
            shifts.append(
                ShiftIn(
                    starts_at=_moment(row.starts_at, row.starts_exact),
                    ends_at=_moment(row.ends_at, row.ends_exact),
                    officer_id=row.officer_id,
                    leader_id=row.leader_id or None,
                )
            )
            origin.append(index)
        except (ValueError, ValidationError):
            row.errors.append("时间格式有误，请重新选择。")
    return shifts, origin


def explain(rows: list[Row], origin: list[int], error: Unprocessable) -> None:
    for item in error.errors or []:
        loc = item.get("loc", [])
        if len(loc) < 3 or not isinstance(loc[2], int) or loc[2] >= len(origin):
            continue
        row = rows[origin[loc[2]]]
        kind = item.get("type", "")
        text = (
            f"与第 {origin[item['with']] + 1} 行时间重叠。" if kind == "overlap" else ERROR_TEXTS.get(kind, item["msg"])
        )
        if text not in row.errors:
            row.errors.append(text)
