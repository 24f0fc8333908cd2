"""Message texts in the person's language: short enough for an SMS (two segments, 134 units), and
voice scripts.

Every text is built from the same parts, each from the message catalog (app.i18n; the Chinese is
the id), and shortened part by part (instruction, then area) until it fits; the link is never cut.
"{ack_url}" stands for the link until the message is handed over. The warning's own words (hazard,
instruction, title) come as the warning carries them in that language, else in Chinese.

Chinese, Uyghur and Kazakh all go as UCS-2: a network counts UTF-16 code units, 70 in one part and
67 in each part of a long message; two parts are the limit in every language.

Voice: the cloud voice services speak Chinese only (i18n.SPOKEN). A person who reads another
language hears the Chinese script, and each voice attempt also brings them the SMS in their own
language (app.notify.claim).
"""

from app.i18n import N_, Catalog, catalog

LEVEL_NAMES = {"red": N_("红色"), "orange": N_("橙色"), "yellow": N_("黄色"), "blue": N_("蓝色")}
SMS_MAX = 134  # two concatenated UCS-2 segments of 67 units
LINK = "{ack_url}"
ELLIPSIS = "…"


def sms_units(text: str) -> int:
    """What a network counts in a UCS-2 message: UTF-16 code units (a character beyond the basic
    plane, an emoji, takes two)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _cut(text: str, units: int) -> str:
    """The longest start of the text within so many units."""
    kept = 0
    for index, ch in enumerate(text):
        kept += 2 if ord(ch) > 0xFFFF else 1
        if kept > units:
            return text[:index]
    return text


def _fitted(parts: list[str], shrinkable: list[int], budget: int) -> list[str]:
    """The parts, the shrinkable ones cut (in order) until together they fit the budget."""
    parts = list(parts)
    for index in shrinkable:
        excess = sum(sms_units(part) for part in parts) - budget
        if excess <= 0:
            break
        keep = max(sms_units(parts[index]) - excess - len(ELLIPSIS), 0)
        parts[index] = _cut(parts[index], keep) + ELLIPSIS if keep else ""
    return parts


def _fit(parts: list[str], shrinkable: list[int], budget: int) -> str:
    """Join parts, cutting the shrinkable ones (in order) until the text fits the budget."""
    return "".join(_fitted(parts, shrinkable, budget))


def level_name(level: str, lang: str | None = None) -> str:
    return catalog(lang)(LEVEL_NAMES[level]) if level in LEVEL_NAMES else level


def area_label(names: list[str], lang: str | None = None) -> str:
    """A person's area as a message names it: 艾维尔沟村, or 艾维尔沟村等3地."""
    if not names:
        return ""
    _ = catalog(lang)
    return names[0] if len(names) == 1 else _("{first}等{count}地", first=names[0], count=len(names))


def sentence(text: str | None, default: str, lang: str | None = None) -> str:
    """A clause as a sentence ending in one full stop (an instruction may already end in one)."""
    _ = catalog(lang)
    body = (text or "").strip().rstrip("。．.！!；;，,،؛") or (_(default) if default else "")
    return body + _("。")


def listing(names: list[str], keep: int, lang: str | None = None) -> str:
    """The first `keep` names, and how many in all when that is not all: 甲村、乙村等42处."""
    _ = catalog(lang)
    shown = _("、").join(names[:keep])
    return shown if keep >= len(names) else _("{shown}等{count}处", shown=shown, count=len(names))


def headline(level: str, hazard: str, mode: str, lang: str | None = None) -> str:
    _ = catalog(lang)
    drill = _("【演练】") if mode == "exercise" else ""
    return _("{drill}{hazard}{level}预警", drill=drill, hazard=hazard, level=level_name(level, lang))


def _twice(_: Catalog, once: str) -> str:
    return _("{once}重复一遍：{once}", once=once)


def alert_sms(
    *, signature: str, level: str, hazard: str, mode: str, area: str, instruction: str | None, link_length: int,
    lang: str | None = None,
) -> str:  # fmt: skip
    """The warning itself by SMS: level, hazard, area, instruction, and the link to answer."""
    _ = catalog(lang)
    parts = [
        _("【{signature}】{headline}：", signature=signature, headline=headline(level, hazard, mode, lang)),
        area,
        _("，"),
        sentence(instruction, N_("请立即做好防范"), lang),
        _("收到请点 "),
        LINK,
    ]
    # Instruction, then area, then (in a long language, at the last) the headline give way.
    fitted = _fitted(parts, [3, 1, 0], SMS_MAX - link_length + len(LINK))
    if not fitted[1]:
        fitted[2] = ""  # no separator after an area cut away
    return "".join(fitted)


def alert_voice(
    *, level: str, hazard: str, mode: str, area: str, instruction: str | None, lang: str | None = None
) -> str:
    """The warning by voice: no link; said twice, ending with the key to press."""
    _ = catalog(lang)
    once = _("{headline}。{area}，{instruction}收到请按1。", headline=headline(level, hazard, mode, lang), area=area,
             instruction=sentence(instruction, N_("请立即做好防范"), lang))  # fmt: skip
    return _twice(_, once)


def _about(
    unreached: list[str], uncovered: list[str], keep_unreached: int, keep_uncovered: int, lang: str | None
) -> str:
    """What an escalation is about: the silent regions, and those with nobody on record."""
    _ = catalog(lang)
    clauses = []
    if unreached:
        clauses.append(_("{regions}未应答", regions=listing(unreached, keep_unreached, lang)))
    if uncovered:
        clauses.append(_("{regions}无责任人", regions=listing(uncovered, keep_uncovered, lang)))
    return _("，").join(clauses)


def escalation_sms(
    *,
    signature: str,
    level: str,
    hazard: str,
    mode: str,
    unreached: list[str],
    link_length: int,
    uncovered: list[str] | None = None,
    lang: str | None = None,
) -> str:
    """To a supervisor: the regions nobody has answered for (and those nobody is on record for),
    as many named as fit and how many in all; the link's page lists every one."""
    _ = catalog(lang)
    uncovered = uncovered or []
    head = _("【{signature}】{headline}：", signature=signature, headline=headline(level, hazard, mode, lang))
    tail = _("，请上门叫醒。收到请点 ")
    budget = SMS_MAX - link_length - sms_units(head) - sms_units(tail)
    keep = [len(unreached), len(uncovered)]
    while sms_units(_about(unreached, uncovered, keep[0], keep[1], lang)) > budget and sum(keep) > 0:
        # Drop a name from the longer list shown (at least one of each stays, while one can).
        index = 0 if keep[0] >= keep[1] else 1
        if keep[index] <= 1 and keep[1 - index] > 1:
            index = 1 - index
        keep[index] -= 1
    # Where even the counts alone do not fit (a long language), the list, then the headline give way.
    parts = [head, _about(unreached, uncovered, keep[0], keep[1], lang), tail, LINK]
    fitted = _fitted(parts, [1, 0], SMS_MAX - link_length + len(LINK))
    if not fitted[1]:
        fitted[2] = tail.lstrip("，,،、 ")  # no separator after a list cut away
    return "".join(fitted)


def escalation_voice(
    *, level: str, hazard: str, mode: str, unreached: list[str], uncovered: list[str] | None = None,
    lang: str | None = None,
) -> str:  # fmt: skip
    """By voice: how many regions, and every one of them by name, however long."""
    _ = catalog(lang)
    uncovered = uncovered or []
    clauses = []
    if unreached:
        clauses.append(_("{count}处未应答：{names}", count=len(unreached), names=_("、").join(unreached)))
    if uncovered:
        clauses.append(_("{count}处无责任人：{names}", count=len(uncovered), names=_("、").join(uncovered)))
    once = _("{headline}。{clauses}。请上门叫醒。收到请按1。", headline=headline(level, hazard, mode, lang),
             clauses=_("；").join(clauses))  # fmt: skip
    return _twice(_, once)


def _closed(kind: str, reason: str | None, lang: str | None) -> str:
    _ = catalog(lang)
    if kind == "withdrawal":
        return _("系误发，现予撤回，请按原状态工作。")
    return _("已解除。") + (sentence(reason, "", lang) if reason and reason.strip("。． ") else "")


def closing_text(
    *, signature: str | None, kind: str, level: str, hazard: str, mode: str, area: str, reason: str | None,
    lang: str | None = None,
) -> str:  # fmt: skip
    """A lifting (解除) or withdrawal (撤回) notice; with a signature for SMS, without for voice."""
    _ = catalog(lang)
    prefix = _("【{signature}】", signature=signature) if signature else ""
    # No empty brackets: a person called only as a supervisor has no area of their own here.
    parts = [prefix + headline(level, hazard, mode, lang), _("（") if area else "", area, _("）") if area else "",
             _closed(kind, reason, lang)]  # fmt: skip
    fitted = _fitted(parts, [4, 2, 0], SMS_MAX)
    if not fitted[2]:
        fitted[1] = fitted[3] = ""  # no empty brackets
    return "".join(fitted).rstrip()


def broadcast_text(*, kind: str, level: str, hazard: str, mode: str, title: str, instruction: str | None,
                   reason: str | None = None, lang: str | None = None) -> str:  # fmt: skip
    """What a village loudspeaker says, once (the platform repeats it): the warning's own title and
    what to do; a lifting or withdrawal says so. An exercise says it is one."""
    _ = catalog(lang)
    return _broadcast(_, kind, level, hazard, mode, title, instruction, reason, lang).strip()


def _broadcast(_: Catalog, kind: str, level: str, hazard: str, mode: str, title: str, instruction: str | None,
               reason: str | None, lang: str | None) -> str:  # fmt: skip
    drill = _("演练。") if mode == "exercise" else ""
    if kind == "alert":
        return (
            drill
            + sentence(title, headline(level, hazard, "actual", lang), lang)
            + sentence(instruction, N_("请注意防范"), lang)
        )
    if kind == "withdrawal":
        return drill + sentence(title, "", lang) + _("系误发，现予撤回，请按原状态工作。")
    return (
        drill
        + _("{title}已解除。", title=sentence(title, "", lang)[: -len(_("。"))])
        + (sentence(reason, "", lang) if reason and reason.strip("。． ") else "")
    )


# Hazard reports (信息报告): what a call about a report asks of the person called (SMS, voice).
HAZARD_ASKS = {
    "receive": (N_("请接报"), N_("请立即接报")),  # the office the report went to (接报)
    "dispatch": (N_("请报到"), N_("请立即报到处置")),  # a department a whistle called (吹哨报到)
    # the office above, nobody having taken it
    "escalate": (N_("未及时接报，请督办"), N_("未及时接报，请立即督办")),
    "escalate_department": (N_("请督办"), N_("请立即督办")),  # the county's officer on duty: a department is late
    "evaluate": (N_("已办结，请评价处置结果"), N_("已办结，请评价处置结果")),  # the reporter (末端评价)
}


def hazard_headline(*, urgent: bool, place: str, category: str, lang: str | None = None) -> str:
    _ = catalog(lang)
    return _("{urgent}险情：{place}{category}", urgent=_("紧急") if urgent else "", place=place, category=category)


def hazard_sms(
    *, signature: str, urgent: bool, place: str, category: str, detail: str, ask: str, link_length: int,
    lang: str | None = None,
) -> str:  # fmt: skip
    """A call about a hazard report by SMS: where and what, the detail (a report's description, a
    whistle's instruction), what is asked, and the link to answer."""
    _ = catalog(lang)
    parts = [
        _("【{signature}】", signature=signature)
        + hazard_headline(urgent=urgent, place=place, category=category, lang=lang)
        + _("。"),
        sentence(detail, N_("详见链接"), lang),
        _("{ask}，收到请点 ", ask=_(HAZARD_ASKS[ask][0])),
        LINK,
    ]
    return _fit(parts, [1, 0, 2], SMS_MAX - link_length + len(LINK))


def hazard_voice(*, urgent: bool, place: str, category: str, detail: str, ask: str, lang: str | None = None) -> str:
    """The same by voice, said twice, ending with the key to press."""
    _ = catalog(lang)
    once = _("{headline}。{detail}{ask}。收到请按1。", headline=hazard_headline(urgent=urgent, place=place,
             category=category, lang=lang), detail=sentence(detail, "", lang), ask=_(HAZARD_ASKS[ask][1]))  # fmt: skip
    return _twice(_, once)


def report_link_sms(*, signature: str, name: str, place: str, link_length: int, lang: str | None = None) -> str:
    """A contact's standing report link (险情上报链接), sent when it is made anew: what it is for,
    and that the one before no longer works; the place, then the name, cut to fit."""
    _ = catalog(lang)
    parts = [
        _("【{signature}】", signature=signature),
        _("{name}：", name=name),
        _("这是您在{place}", place=place),
        _("的险情上报链接（此前的链接已失效），发现险情请点开填报："),
        LINK,
    ]
    return _fit(parts, [2, 1, 3], SMS_MAX - link_length + len(LINK))
