"""What a report reads: the rollup rows of its warnings, keyed by the county or township they lie in."""

from collections.abc import Callable
from typing import cast

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, func, select

from app.models.warning import Warning
from app.report.coverage import SIGNIFICANT_DIGITS, Coverage, GroupBy, region_prefix, warnings_of
from app.report.figures import TOWNSHIP_DIGITS

# A code whose digits past these are all zeros lies above the grouping level (a county's digits
# past 4 are not all zero; a township's past 6 are not).
ABOVE_DIGITS = {6: 4, 9: 6}


class Scope:
    """What a report reads: the rollup rows of warnings of the period and mode, stored for sealed
    warnings and counted from the calls and regions of the others, inside the region's subtree, each
    keyed by the county or township it lies in.

    Counties and townships are found from the statistical codes themselves (the first 6 or 9 digits
    name a region's county and township), so a year of calls is grouped without joining each call
    to the region tree. `collation` compares the codes byte by byte (report.db.code_collation)."""

    def __init__(self, coverage: Coverage, group_by: GroupBy, *, collation: str | None) -> None:
        self.collation = collation
        self.group_by = group_by
        self.prefix = region_prefix(coverage.region)
        self.digits = SIGNIFICANT_DIGITS[group_by]
        # Ids of the period's warnings (only the sealed ones have rollup rows), and of those not sealed.
        period = select(Warning.id).where(*warnings_of(coverage))
        self.warnings = period.scalar_subquery()
        self.unsealed = period.where(Warning.sealed_at.is_(None)).scalar_subquery()

    def key(self, township: SQLColumnExpression[str]) -> ColumnElement[str]:
        return self.bytewise(func.substr(township, 1, self.digits))

    def bytewise(self, value: SQLColumnExpression[str]) -> ColumnElement[str]:
        """Compared byte by byte: grouping a year of calls sorts them, and digits need no locale rules."""
        column = cast(ColumnElement[str], value)
        return column.collate(self.collation) if self.collation else column

    def inside(self, township: SQLColumnExpression[str]) -> ColumnElement[bool]:
        """In the subtree and below the level above the grouping: a county's own staff belong to no
        township. (A township straight under a prefecture, as in 东莞, counts in its prefecture's row.)"""
        # Judged on the township's digits, which every code below a township has (a village code
        # with township digits 000 would count in no row; the national table has none).
        above = ABOVE_DIGITS[self.digits]
        zeros = "0" * (TOWNSHIP_DIGITS - above)
        return and_(township.startswith(self.prefix), func.substr(township, above + 1, len(zeros)) != zeros)

    def where(
        self, after: str | None = None, start: str | None = None, end: str | None = None
    ) -> Callable[[SQLColumnExpression[str]], list[ColumnElement[bool]]]:
        """Conditions on a code (or its township digits): inside, its key after `after`, from
        `start` on and before `end` (as given)."""

        def conditions(code: SQLColumnExpression[str]) -> list[ColumnElement[bool]]:
            key = self.key(code)
            bounds = [key > after if after else None, key >= start if start else None, key < end if end else None]
            return [self.inside(code), *(bound for bound in bounds if bound is not None)]

        return conditions
