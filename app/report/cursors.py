"""The cursors a report's pages hand out, read back: a region's code, or a warning's id and a region's code."""

from app.errors import Unprocessable


def code_cursor(cursor: str | None) -> str | None:
    """A region's twelve-digit code as given in next_cursor; 422 for anything else."""
    if cursor is not None and (len(cursor) != 12 or not cursor.isascii() or not cursor.isdigit()):
        raise _not_a_cursor()
    return cursor


def pair_cursor(cursor: str | None) -> tuple[str, str] | None:
    """A warning's id and a region's code, as `warning:code` in next_cursor; 422 for anything else."""
    if cursor is None:
        return None
    warning_id, _, code = cursor.partition(":")
    if not warning_id or code_cursor(code) is None:
        raise _not_a_cursor()
    return warning_id, code


def _not_a_cursor() -> Unprocessable:
    return Unprocessable(
        "This cursor was not given by this report; pass next_cursor as it came.",
        errors=[{"loc": ["query", "cursor"], "msg": "not a cursor of this report"}],
    )
