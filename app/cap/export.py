"""A warning as a CAP 1.2 alert: Alert, Update (it superseded another) or Cancel (it was cancelled),
in zh-CN, with its level kept in a parameter and each area as a CPEAS geocode, and one more info
block per language it carries its texts in; checked against the schema before it leaves."""

from copy import deepcopy
from datetime import datetime

from lxml import etree
from lxml.builder import ElementMaker
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.cap import identity
from app.cap.identity import Sender
from app.cap.levels import LEVEL_COLOUR, LEVEL_SEVERITY
from app.cap.mapping import GEOCODE_SCHEME
from app.cap.xsd import CAP_NS, schema
from app.i18n import CLDR_LOCALES
from app.models.region import Region
from app.models.warning import OPEN_STATUSES, Warning

LEVEL_PARAMETER = "预警级别"
# The bureau's own message a warning was issued from, as sender,identifier,sent (in an Alert,
# `references` would say it updates that message, so it goes in a parameter of its own).
SOURCE_PARAMETER = "source_alert"
STATUS = {"actual": "Actual", "exercise": "Exercise", "test": "Test"}
CLOSE_NOTE = {"lifted": "解除", "withdrawn": "撤回"}
# CAP categories by words in the hazard; anything else is Other.
CATEGORIES = (
    ("Geo", ("地震", "地质", "滑坡", "泥石流", "崩塌", "海啸", "地面塌陷")),
    ("Fire", ("火",)),
    ("Health", ("疫", "传染", "中毒")),
    ("Env", ("污染", "赤潮")),
    ("Met", ("雨", "雪", "风", "寒", "冷", "热", "高温", "干旱", "雷", "冰", "雹", "霜", "雾", "霾", "沙尘",
             "台风", "洪", "涝", "潮", "浪", "低温", "降温")),
)  # fmt: skip

_cap = ElementMaker(namespace=CAP_NS, nsmap={None: CAP_NS})


def category_of(hazard: str) -> str:
    """The CAP category a hazard falls in (Met covers floods, as CAP defines it)."""
    for category, words in CATEGORIES:
        if any(word in hazard for word in words):
            return category
    return "Other"


def _urgency(warning: Warning, now: datetime) -> str:
    if warning.status not in OPEN_STATUSES:
        return "Past"
    return "Expected" if warning.onset and warning.onset > now else "Immediate"


async def _areas(session: AsyncSession, warning: Warning) -> list[etree._Element]:
    rows = await session.execute(select(Region.code, Region.name).where(Region.code.in_(warning.area_codes)))
    names = dict(rows.tuples().all())
    return [
        _cap.area(
            _cap.areaDesc(names.get(code, code)),
            _cap.geocode(_cap.valueName(GEOCODE_SCHEME), _cap.value(code)),
        )
        for code in warning.area_codes
    ]


def language_tag(language: str) -> str:
    """The CAP language of a translation: its BCP 47 tag, with the script where the bare tag means
    another (kk-Arab: Kazakh as written in Xinjiang)."""
    return CLDR_LOCALES.get(language, language).replace("_", "-")


def _cancelled(warning: Warning) -> bool:
    """Cancelled by someone (a Cancel message): a dry run is closed as it is stored, and exports as
    the Test alert it was."""
    return warning.status == "cancelled" and warning.mode != "test"


async def _note(session: AsyncSession, sender: Sender, warning: Warning) -> str | None:
    if _cancelled(warning):
        word = CLOSE_NOTE.get(warning.close_kind or "lifted", "解除")
        return f"{word}：{warning.close_reason}" if warning.close_reason else word
    if warning.status == "superseded" and warning.superseded_by:
        newer = await session.get(Warning, warning.superseded_by)
        if newer is not None:
            return f"已更新，见 {(await identity.identity(session, sender, newer)).identifier}"
    if warning.status == "expired":
        return "已过期"
    return None


def _info(
    warning: Warning,
    sender: Sender,
    language: str,
    texts: dict[str, str | None],
    *,
    areas: list[etree._Element],
    more: list[etree._Element],
    now: datetime,
) -> etree._Element:
    """An info block in one language: the warning's facts and level, its texts in that language,
    `more` parameters, and its areas."""
    info = [
        _cap.language(language),
        _cap.category(category_of(warning.hazard)),
        _cap.event(texts.get("hazard") or warning.hazard),
        _cap.urgency(_urgency(warning, now)),
        _cap.severity(LEVEL_SEVERITY[warning.level]),
        _cap.certainty("Likely"),
    ]
    info += [_cap.onset(identity.cap_time(warning.onset))] if warning.onset else []
    info += [_cap.expires(identity.cap_time(warning.expires))] if warning.expires else []
    info += [_cap.senderName(sender.name)] if sender.name else []
    info += [_cap.headline(texts["title"])] if texts.get("title") else []
    info += [_cap.description(texts["description"])] if texts.get("description") else []
    info += [_cap.instruction(texts["instruction"])] if texts.get("instruction") else []
    info.append(_cap.parameter(_cap.valueName(LEVEL_PARAMETER), _cap.value(LEVEL_COLOUR[warning.level])))
    return _cap.info(*info, *more, *deepcopy(areas))


async def alert_document(session: AsyncSession, sender: Sender, warning: Warning, *, now: datetime) -> bytes:
    """The warning as a CAP 1.2 alert (UTF-8 XML), valid against the OASIS schema."""
    issued = await identity.identity(session, sender, warning)
    references: list[str] = []
    if _cancelled(warning):
        message, msg_type = await identity.identity(session, sender, warning, cancel=True), "Cancel"
        references.append(issued.reference)
    else:
        message, msg_type = issued, "Alert"
        if warning.supersedes:
            older = await session.get(Warning, warning.supersedes)
            if older is not None:
                msg_type = "Update"
                references.append((await identity.identity(session, sender, older)).reference)
    note = await _note(session, sender, warning)
    areas = await _areas(session, warning)

    source = []
    if (cap_source := warning.cap_source) is not None:
        sent = identity.cap_time(datetime.fromisoformat(cap_source["sent"]))
        said = f"{cap_source['sender']},{cap_source['identifier']},{sent}"
        source.append(_cap.parameter(_cap.valueName(SOURCE_PARAMETER), _cap.value(said)))
    own = {"title": warning.title, "description": warning.description, "instruction": warning.instruction}
    infos = [_info(warning, sender, "zh-CN", own, areas=areas, more=source, now=now)] + [
        _info(warning, sender, language_tag(language), dict(texts), areas=areas, more=[], now=now)
        for language, texts in sorted((warning.translations or {}).items())
    ]  # the warning's own (Chinese) block first, then one per language it carries its texts in
    alert = _cap.alert(
        _cap.identifier(message.identifier),
        _cap.sender(message.sender),
        _cap.sent(message.sent_text),
        _cap.status(STATUS[warning.mode]),
        _cap.msgType(msg_type),
        _cap.scope("Public"),
        *([_cap.note(note)] if note else []),
        *([_cap.references(" ".join(references))] if references else []),
        *infos,
    )
    validator = schema()
    if not validator.validate(alert):  # our own output: a failure here is a bug, never the caller's
        raise RuntimeError(f"exported CAP alert for warning {warning.id} is not valid: {validator.error_log}")
    return bytes(etree.tostring(alert, xml_declaration=True, encoding="UTF-8", pretty_print=True))
