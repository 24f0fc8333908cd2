"""The console provider's outbox, for development and tours."""

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from app.auth.dependencies import AdminDep
from app.config import SettingsDep
from app.db import SessionDep
from app.errors import NotFound
from app.notify.models import ConsoleMessage
from app.paging import Page, PageDep, make_page, seq_cursor

router = APIRouter(prefix="/api/v1/dev", tags=["development"])


class OutboxItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    message_id: str
    call_id: str
    warning_id: str
    kind: str
    channel: str
    to: str
    text: str
    ack_url: str | None
    sent_at: datetime


@router.get("/outbox", response_model=Page[OutboxItem])
async def outbox(session: SessionDep, settings: SettingsDep, _: AdminDep, page: PageDep) -> Page[OutboxItem]:
    """Messages the console provider was handed, oldest first (only with JIAOYING_PROVIDER=console)."""
    if settings.provider != "console":
        raise NotFound("The dev outbox exists only with the console provider.")
    query = select(ConsoleMessage).order_by(ConsoleMessage.seq).limit(page.fetch)
    after = seq_cursor(page)
    if after is not None:
        query = query.where(ConsoleMessage.seq > after)
    rows = list(await session.scalars(query))
    return make_page(rows, page, key=lambda m: str(m.seq), item=OutboxItem.model_validate)
