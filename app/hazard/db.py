"""SQL for hazard reports that each database writes its own way."""

from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from app import db


def seconds_between(session: AsyncSession, later: Any, earlier: Any) -> ColumnElement[Any]:
    """SQL for the seconds from one time column to another, as a float, on the session's database."""
    return db.seconds_between(later, earlier, postgres=db.is_postgresql(session))
