"""The one shape of every collection: ?limit=&cursor= in, {items, next_cursor} out."""

from collections.abc import Callable, Sequence
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

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
