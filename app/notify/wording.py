"""What each attempt of a call says, in the person's language: each channel's text (SMS with the
link to come, the voice script), the channels a person reads as well as hears, and the region
names and states the words are made of. Used by the claim (notify.claim) and 一键呼叫 (call_now)."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import i18n
from app.call import tokens
from app.channels import CHANNELS
from app.db import among, chunks, core_rows
from app.models.warning import Warning, WarningRegion
from app.notify import templates
from app.notify.base import Plan


def attempt_texts(
    warning: Warning,
    call: Any,
    names: dict[str, str],
    link_length: int,
    uncovered: frozenset[str] = frozenset(),
    lang: str = i18n.SOURCE,
    *,
    signature: str,
) -> dict[str, str]:
    """The text of each channel for a call's attempt, in the person's language (text with the link
    placeholder; speech without, in Chinese where the voice services do not speak the language).
    An escalation tells the regions nobody answered for from those with nobody on record."""
    level, mode = warning.level, warning.mode
    spoken = lang if lang in i18n.SPOKEN else i18n.SOURCE
    read, heard = warning.own_words(lang), warning.own_words(spoken)
    if call.kind == "escalation":
        silent = [names.get(code, code) for code in call.about_region_codes if code not in uncovered]
        empty = [names.get(code, code) for code in call.about_region_codes if code in uncovered]
        forms = {
            "text": templates.escalation_sms(signature=signature, level=level, hazard=read["hazard"] or "", mode=mode,
                                             unreached=silent, uncovered=empty, link_length=link_length, lang=lang),
            "speech": templates.escalation_voice(level=level, hazard=heard["hazard"] or "", mode=mode,
                                                 unreached=silent, uncovered=empty, lang=spoken),
        }  # fmt: skip
    else:
        area = [names[code] for code in call.region_codes if code in names]
        forms = {
            "text": templates.alert_sms(signature=signature, level=level, hazard=read["hazard"] or "", mode=mode,
                                        area=templates.area_label(area, lang), link_length=link_length,
                                        instruction=read["instruction"], lang=lang),
            "speech": templates.alert_voice(level=level, hazard=heard["hazard"] or "", mode=mode,
                                            area=templates.area_label(area, spoken),
                                            instruction=heard["instruction"], lang=spoken),
        }  # fmt: skip
    return {name: forms[channel.form] for name, channel in CHANNELS.items()}


def readable_channels(attempt: list[str], carried: list[str], lang: str, plan: Plan | None = None) -> list[str]:
    """An attempt's channels, and for a person the voice services cannot speak to in their own
    language, a text channel beside a voice-only attempt (one whose provider sends Jiaoying's own
    words, not a Chinese template): they hear Chinese and read their own."""
    if lang in i18n.SPOKEN or any(CHANNELS[c].form == "text" for c in attempt):
        return attempt
    templated = plan.templated if plan else frozenset()
    readable = [c for c in carried if CHANNELS[c].form == "text" and c not in templated]
    return attempt + readable[:1]


def link_length(public_url: str) -> int:
    """How long a link at this address is, for fitting the text around it."""
    return len(tokens.ack_url(public_url, "x" * tokens.TOKEN_LENGTH))


async def uncovered_regions(session: AsyncSession, warning_ids: set[str], codes: set[str]) -> frozenset[str]:
    """Of these regions of the warnings, those with nobody on record (an escalation says so)."""
    found: set[str] = set()
    for chunk in chunks(sorted(codes)):
        rows = await core_rows(
            session,
            select(WarningRegion.region_code).where(
                WarningRegion.warning_id.in_(warning_ids), among(WarningRegion.region_code, chunk),
                WarningRegion.state == "uncovered",
            ),
        )  # fmt: skip
        found.update(rows.scalars())
    return frozenset(found)


async def region_names(session: AsyncSession, warning_ids: set[str], codes: set[str]) -> dict[str, str]:
    """The names of the warnings' regions, by code."""
    names: dict[str, str] = {}
    for chunk in chunks(sorted(codes)):
        named = await core_rows(
            session,
            select(WarningRegion.region_code, WarningRegion.name).where(
                WarningRegion.warning_id.in_(warning_ids), among(WarningRegion.region_code, chunk)
            ),
        )
        names.update(named.tuples().all())
    return names
