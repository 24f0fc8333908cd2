"""Times in requests: with their offset, and within the years a warning can be about.

A time without an offset is ambiguous (Beijing? UTC?), and one at the edge of the calendar
(9999-12-31 at -14:00, the year 1) cannot be held in UTC or compared; both get a 422 with a
sentence, wherever a time comes in: query parameters, JSON fields, CAP elements."""

from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def check_moment(value: datetime) -> datetime:
    """The time, if it has an offset and lies between 1970 and 2200; ValueError with a sentence else."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("give the time with its offset, such as 2026-07-01T08:00:00+08:00")
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time must lie between 1970 and 2200") from None
    if not EARLIEST <= in_utc < LATEST:
        raise ValueError("the time must lie between 1970 and 2200")
    return value


Moment = Annotated[AwareDatetime, AfterValidator(check_moment)]

# The time pages and messages show, labelled 北京时间 (China keeps no daylight saving).
BEIJING = timezone(timedelta(hours=8))
# A moment as it is kept and shown by the API: in UTC, whatever offset it came with.
UtcMoment = Annotated[Moment, AfterValidator(lambda value: value.astimezone(UTC))]
