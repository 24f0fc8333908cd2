"""The one shape of every collection: ?limit=&cursor= in, {items, next_cursor} out."""

from collections.abc import Callable, Sequence
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

from app.errors import Unprocessable

T = TypeVar("T")
R = TypeVar("R")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


class PageParams(BaseModel):
    limit: int
    cursor: str | None

    @property
    def fetch(self) -> int:
        """Rows to ask for: one more than a page, to know whether another page follows."""
        return self.limit + 1


def page_params(
    limit: Annotated[int, Query(ge=1, le=1000, description="Items per page (at most 1000).")] = 100,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page.")] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


PageDep = Annotated[PageParams, Depends(page_params)]


def make_page(rows: Sequence[R], params: PageParams, *, key: Callable[[R], str], item: Callable[[R], T]) -> Page[T]:
    """A page from rows fetched with `params.fetch`; the cursor is the last item's key."""
    shown = rows[: params.limit]
    more = len(rows) > params.limit
    return Page[T](items=[item(row) for row in shown], next_cursor=key(shown[-1]) if more and shown else None)


def seq_cursor(params: PageParams) -> int | None:
    """A cursor that is a sequence number (events, outbox); 422 if it is anything else."""
    if params.cursor is None:
        return None
    if not params.cursor.isascii() or not params.cursor.isdigit() or len(params.cursor) > 18:
        raise Unprocessable(
            "This cursor was not given by this list; pass next_cursor as it came.",
            errors=[{"loc": ["query", "cursor"], "msg": "not a cursor of this list"}],
        )
    return int(params.cursor)
