"""Loudspeakers on record, and the broadcasts warnings make them play.

`schedule` runs in the transaction that issues, lifts or withdraws a warning: each targeted village
or township with an active loudspeaker gets one broadcast of that kind (the outbox the heartbeat's
broadcast sender empties, app.broadcast.sender), in each language its loudspeakers speak. Test
warnings broadcast nothing; exercises say they are one; a lifting or withdrawal goes where the
alert went. Broadcasts are on the warning's chain: `broadcast.sent`, `.delivered`, `.failed`,
`.confirmed`."""

from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.auth.scope import ensure_covers
from app.auth.service import Principal
from app.broadcast.schemas import LoudspeakerIn
from app.bulk import bulk_insert
from app.errors import NotFound, Unprocessable
from app.i18n import N_
from app.ids import new_ids
from app.models.broadcast import Broadcast, Loudspeaker
from app.models.region import Region, codes_within, subtree_filter
from app.models.warning import Warning
from app.notify import templates
from app.policy.snapshot import PolicySnapshot
from app.region import service as region_service

LEVELS = ("village", "township")  # where a loudspeaker stands
CLOSING = {"lifted": "lifting", "expired": "lifting", "withdrawn": "withdrawal"}


async def add_loudspeaker(
    session: AsyncSession, data: LoudspeakerIn, *, principal: Principal, now: datetime
) -> Loudspeaker:
    """Register a village's or township's loudspeaker (inside the caller's subtree)."""
    region = await region_service.get_region(session, data.region_code)
    if region.level not in LEVELS or region.abolished:
        raise Unprocessable(
            f"{region.name} ({region.code}) is {'abolished' if region.abolished else 'a ' + region.level}; "
            "loudspeakers stand in villages and townships in force.",
            errors=[{"loc": ["body", "region_code"], "msg": "no loudspeaker stands there"}],
        )
    ensure_covers(principal, region.path, region.code)
    speaker = Loudspeaker(region_code=region.code, name=data.name, languages=data.languages, created_at=now,
                          created_by=principal.name)  # fmt: skip
    session.add(speaker)
    await session.flush()
    await audit_service.record_event(session, _changed(speaker, "created", principal.name), now=now)
    return speaker


async def get_loudspeaker(session: AsyncSession, loudspeaker_id: str, *, principal: Principal) -> Loudspeaker:
    """A loudspeaker inside the caller's subtree, or 404 (403 outside it)."""
    speaker = await session.get(Loudspeaker, loudspeaker_id)
    if speaker is None:
        raise NotFound(f"No loudspeaker has id {loudspeaker_id!r}.")
    region = await region_service.get_region(session, speaker.region_code)
    ensure_covers(principal, region.path, region.code)
    return speaker


async def remove_loudspeaker(
    session: AsyncSession, speaker: Loudspeaker, *, principal: Principal, now: datetime
) -> None:
    """Take a loudspeaker off the record (its broadcasts stay)."""
    if speaker.active:
        speaker.active, speaker.deactivated_at = False, now
        await audit_service.record_event(session, _changed(speaker, "deactivated", principal.name), now=now)


async def list_loudspeakers(
    session: AsyncSession, *, principal: Principal, region_code: str | None, limit: int, cursor: str | None
) -> list[Loudspeaker]:
    """Active loudspeakers of a subtree inside the caller's, by id."""
    path = principal.within
    if region_code:
        region = await region_service.get_region(session, region_code)
        ensure_covers(principal, region.path, region.code)
        path = region.path
    query = select(Loudspeaker).where(Loudspeaker.active)
    if path is not None:
        inside = codes_within(path)
        query = query.where(Loudspeaker.region_code.in_(inside))
    if cursor:
        query = query.where(Loudspeaker.id > cursor)
    return list(await session.scalars(query.order_by(Loudspeaker.id).limit(limit)))


def _changed(speaker: Loudspeaker, action: str, actor: str) -> audit_service.Event:
    return audit_service.Event(
        type="loudspeaker.changed", actor=actor, region_code=speaker.region_code,
        data={"action": action, "loudspeaker_id": speaker.id, "name": speaker.name, "languages": speaker.languages},
    )  # fmt: skip


async def schedule(
    session: AsyncSession, warning: Warning, kind: str, *, now: datetime, beyond: list[str] | None = None
) -> int:
    """The warning's broadcasts of this kind, stored to go at once; returns how many. A lifting or
    withdrawal goes where the alert was handed over (or confirmed played); `beyond` (the warnings
    that updated this one) leaves out the regions their own alerts now reach."""
    rules = PolicySnapshot.of(warning.policy)
    if warning.mode == "test" or not rules.broadcast:
        return 0
    if kind == "alert":
        speakers = (
            select(Loudspeaker.region_code, Loudspeaker.languages)
            .join(Region, Region.code == Loudspeaker.region_code)
            .where(Loudspeaker.active, Region.level.in_(rules.reach), Region.abolished.is_(False))
        )
        within = [subtree_filter(Region.path, path) for path in warning.area_paths]
        speakers = speakers.where(or_(*within))
    else:  # where the alert went
        handed_over = or_(Broadcast.status.in_(("sending", "sent", "delivered")), Broadcast.confirmed_at.is_not(None))
        alerted = select(Broadcast.region_code).where(
            Broadcast.warning_id == warning.id, Broadcast.kind == "alert", handed_over
        )
        if beyond:
            reached_anew = select(Broadcast.region_code).where(
                Broadcast.warning_id.in_(beyond), Broadcast.kind == "alert"
            )
            alerted = alerted.where(Broadcast.region_code.not_in(reached_anew))
        speakers = select(Loudspeaker.region_code, Loudspeaker.languages).where(
            Loudspeaker.active, Loudspeaker.region_code.in_(alerted)
        )
    languages: dict[str, list[str]] = {}
    for code, spoken in (await session.execute(speakers)).tuples():
        languages.setdefault(code, ["zh"]).extend(language for language in spoken if language not in languages[code])
    if not languages:
        return 0
    texts = {lang: _text(warning, kind, lang) for lang in {lang for spoken in languages.values() for lang in spoken}}
    repeat = rules.broadcast_repeat
    rows = [
        {"id": broadcast_id, "warning_id": warning.id, "region_code": code, "kind": kind, "level": warning.level,
         "texts": {lang: texts[lang] for lang in languages[code]}, "repeat": repeat, "status": "pending",
         "tries": 0, "due_at": now,
         "claimed_at": None, "sent_at": None, "receipt_at": None, "error": None, "confirmed_at": None,
         "confirmed_by": None, "created_at": now}
        for code, broadcast_id in zip(sorted(languages), new_ids(len(languages)), strict=True)
    ]  # fmt: skip
    await bulk_insert(session, Broadcast, rows)
    return len(rows)


def _text(warning: Warning, kind: str, lang: str) -> str:
    """What a loudspeaker says in a language (the catalog's words, the warning's own words as it
    carries them in that language, else in Chinese)."""
    words = warning.own_words(lang)
    return templates.broadcast_text(kind=kind, level=warning.level, hazard=words["hazard"] or "", mode=warning.mode,
                                    title=words["title"] or "", instruction=words["instruction"], lang=lang,
                                    reason=warning.close_reason if kind != "alert" else None)  # fmt: skip


async def cancel_pending(session: AsyncSession, warning: Warning, *, reason: str) -> None:
    """A closed warning's alert broadcasts not yet handed over do not go."""
    await session.execute(
        update(Broadcast)
        .where(Broadcast.warning_id == warning.id, Broadcast.kind == "alert", Broadcast.status == "pending")
        .values(status="cancelled", error=reason)
    )


async def of_regions(session: AsyncSession, warning_id: str, codes: list[str]) -> list[Broadcast]:
    """The warning's alert broadcasts in these regions (a person's own, on their ack page)."""
    query = select(Broadcast).where(
        Broadcast.warning_id == warning_id, Broadcast.kind == "alert", Broadcast.region_code.in_(codes),
        Broadcast.status != "cancelled",
    )  # fmt: skip
    return list(await session.scalars(query.order_by(Broadcast.region_code)))


async def confirm(
    session: AsyncSession, broadcast_id: str, *, warning_id: str, codes: list[str], actor: str, call_id: str,
    now: datetime,
) -> Broadcast:  # fmt: skip
    """已广播: the village's responsible person says the loudspeaker played it (once; a broadcast
    never acknowledges a call). 404 for a broadcast not of the person's own regions."""
    broadcast = await session.scalar(
        select(Broadcast)
        .where(Broadcast.id == broadcast_id, Broadcast.warning_id == warning_id, Broadcast.region_code.in_(codes),
               Broadcast.kind == "alert")
        .with_for_update()
    )  # fmt: skip
    if broadcast is None or broadcast.status == "cancelled":
        raise NotFound("This link names no such broadcast.")
    if broadcast.confirmed_at is None:
        broadcast.confirmed_at, broadcast.confirmed_by = now, actor
        event = audit_service.Event(
            type="broadcast.confirmed", actor=actor, warning_id=warning_id, call_id=call_id,
            region_code=broadcast.region_code, data={"broadcast_id": broadcast.id, "status": broadcast.status},
        )  # fmt: skip
        await audit_service.record_event(session, event, chain=audit_service.warning_chain(warning_id), now=now)
    return broadcast


# How a broadcast stands: (the board's css class, the words the board and the ack page say).
BOARD_STATES = {"pending": ("waiting", N_("待播放")), "sending": ("waiting", N_("待播放")),
                "sent": ("sent", N_("已发送")), "delivered": ("played", N_("已播放")),
                "failed": ("failed", N_("未能播放"))}  # fmt: skip


async def board_marks(session: AsyncSession, warning_id: str) -> dict[str, tuple[str, str]]:
    """Each village's (or township's) alert broadcast as the board marks it; confirmed 已广播 by its
    person counts as played."""
    query = select(Broadcast.region_code, Broadcast.status, Broadcast.confirmed_at).where(
        Broadcast.warning_id == warning_id, Broadcast.kind == "alert", Broadcast.status != "cancelled"
    )
    return {
        code: ("played", "已确认广播") if confirmed is not None else BOARD_STATES.get(status, ("waiting", status))
        for code, status, confirmed in (await session.execute(query)).tuples()
    }
