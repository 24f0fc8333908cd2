"""Message texts: short Chinese an SMS can carry (two segments, 134 characters), and voice scripts.

Every text is built from the same parts, and shortened part by part (instruction, then area) until
it fits; the link is never cut. "{ack_url}" stands for the link until the message is handed over.
"""

LEVEL_NAMES = {"red": "红色", "orange": "橙色", "yellow": "黄色", "blue": "蓝色"}
SMS_MAX = 134  # two concatenated UCS-2 segments of 67 characters
LINK = "{ack_url}"
ELLIPSIS = "…"


def _fit(parts: list[str], shrinkable: list[int], budget: int) -> str:
    """Join parts, cutting the shrinkable ones (in order) until the text fits the budget."""
    parts = list(parts)
    for index in shrinkable:
        excess = sum(len(part) for part in parts) - budget
        if excess <= 0:
            break
        keep = max(len(parts[index]) - excess - len(ELLIPSIS), 0)
        parts[index] = parts[index][:keep] + ELLIPSIS if keep else ""
    return "".join(parts)


def area_label(names: list[str]) -> str:
    """A person's area as a message names it: 艾维尔沟村, or 艾维尔沟村等3地."""
    if not names:
        return ""
    return names[0] if len(names) == 1 else f"{names[0]}等{len(names)}地"


def sentence(text: str | None, default: str) -> str:
    """A clause as a sentence ending in one 。 (an instruction may already end in one)."""
    body = (text or "").strip().rstrip("。．.！!；;，,") or default
    return body + "。"


def listing(names: list[str], keep: int) -> str:
    """The first `keep` names, and how many in all when that is not all: 甲村、乙村等42处."""
    shown = "、".join(names[:keep])
    return shown if keep >= len(names) else f"{shown}等{len(names)}处"


def headline(level: str, hazard: str, mode: str) -> str:
    drill = "【演练】" if mode == "exercise" else ""
    return f"{drill}{hazard}{LEVEL_NAMES.get(level, level)}预警"


def alert_sms(
    *, signature: str, level: str, hazard: str, mode: str, area: str, instruction: str | None, link_length: int
) -> str:
    """The warning itself by SMS: level, hazard, area, instruction, and the link to answer."""
    parts = [
        f"【{signature}】{headline(level, hazard, mode)}：",
        area,
        "，",
        sentence(instruction, "请立即做好防范"),
        "收到请点 ",
        LINK,
    ]
    return _fit(parts, [3, 1], SMS_MAX - link_length + len(LINK))


def alert_voice(*, level: str, hazard: str, mode: str, area: str, instruction: str | None) -> str:
    """The warning by voice: no link; said twice, ending with the key to press."""
    once = f"{headline(level, hazard, mode)}。{area}，{sentence(instruction, '请立即做好防范')}收到请按1。"
    return f"{once}重复一遍：{once}"


def _about(unreached: list[str], uncovered: list[str], keep_unreached: int, keep_uncovered: int) -> str:
    """What an escalation is about: the silent regions, and those with nobody on record."""
    clauses = []
    if unreached:
        clauses.append(f"{listing(unreached, keep_unreached)}未应答")
    if uncovered:
        clauses.append(f"{listing(uncovered, keep_uncovered)}无责任人")
    return "，".join(clauses)


def escalation_sms(
    *,
    signature: str,
    level: str,
    hazard: str,
    mode: str,
    unreached: list[str],
    link_length: int,
    uncovered: list[str] | None = None,
) -> str:
    """To a supervisor: the regions nobody has answered for (and those nobody is on record for),
    as many named as fit and how many in all; the link's page lists every one."""
    uncovered = uncovered or []
    head, tail = f"【{signature}】{headline(level, hazard, mode)}：", "，请上门叫醒。收到请点 "
    budget = SMS_MAX - link_length - len(head) - len(tail)
    keep = [len(unreached), len(uncovered)]
    while len(_about(unreached, uncovered, *keep)) > budget and sum(keep) > 0:
        # Drop a name from the longer list shown (at least one of each stays, while one can).
        index = 0 if keep[0] >= keep[1] else 1
        if keep[index] <= 1 and keep[1 - index] > 1:
            index = 1 - index
        keep[index] -= 1
    return head + _about(unreached, uncovered, *keep) + tail + LINK


def escalation_voice(
    *, level: str, hazard: str, mode: str, unreached: list[str], uncovered: list[str] | None = None
) -> str:
    """By voice: how many regions, and every one of them by name, however long."""
    uncovered = uncovered or []
    clauses = []
    if unreached:
        clauses.append(f"{len(unreached)}处未应答：{'、'.join(unreached)}")
    if uncovered:
        clauses.append(f"{len(uncovered)}处无责任人：{'、'.join(uncovered)}")
    once = f"{headline(level, hazard, mode)}。{'；'.join(clauses)}。请上门叫醒。收到请按1。"
    return f"{once}重复一遍：{once}"


def closing_text(
    *, signature: str | None, kind: str, level: str, hazard: str, mode: str, area: str, reason: str | None
) -> str:
    """A lifting (解除) or withdrawal (撤回) notice; with a signature for SMS, without for voice."""
    if kind == "withdrawal":
        body = "系误发，现予撤回，请按原状态工作。"
    else:
        body = "已解除。" + (sentence(reason, "") if reason and reason.strip("。． ") else "")
    prefix = f"【{signature}】" if signature else ""
    # No empty brackets: a person called only as a supervisor has no area of their own here.
    parts = [f"{prefix}{headline(level, hazard, mode)}", "（" if area else "", area, "）" if area else "", body]
    return _fit(parts, [4, 2], SMS_MAX)


def broadcast_text(*, kind: str, level: str, hazard: str, mode: str, title: str, instruction: str | None,
                   reason: str | None = None) -> str:  # fmt: skip
    """What a village loudspeaker says, in Chinese, once (the platform repeats it): the warning's
    own title and what to do; a lifting or withdrawal says so. An exercise says it is one."""
    drill = "演练。" if mode == "exercise" else ""
    if kind == "alert":
        return f"{drill}{sentence(title, headline(level, hazard, 'actual'))}{sentence(instruction, '请注意防范')}"
    if kind == "withdrawal":
        return f"{drill}{sentence(title, '')}系误发，现予撤回，请按原状态工作。"
    return f"{drill}{sentence(title, '')[:-1]}已解除。" + (
        sentence(reason, "") if reason and reason.strip("。． ") else ""
    )


# Hazard reports (信息报告): what a call about a report asks of the person called.
HAZARD_ASKS = {
    "receive": ("请接报", "请立即接报"),  # the office the report went to (接报)
    "dispatch": ("请报到", "请立即报到处置"),  # a department a whistle called (吹哨报到)
    "escalate": ("未及时接报，请督办", "未及时接报，请立即督办"),  # the office above, nobody having taken it
    "escalate_department": ("请督办", "请立即督办"),  # the county's officer on duty: a department is late
    "evaluate": ("已办结，请评价处置结果", "已办结，请评价处置结果"),  # the reporter (末端评价)
}


def hazard_headline(*, urgent: bool, place: str, category: str) -> str:
    return f"{'紧急' if urgent else ''}险情：{place}{category}"


def hazard_sms(
    *, signature: str, urgent: bool, place: str, category: str, detail: str, ask: str, link_length: int
) -> str:
    """A call about a hazard report by SMS: where and what, the detail (a report's description, a
    whistle's instruction), what is asked, and the link to answer."""
    parts = [
        f"【{signature}】{hazard_headline(urgent=urgent, place=place, category=category)}。",
        sentence(detail, "详见链接"),
        f"{HAZARD_ASKS[ask][0]}，收到请点 ",
        LINK,
    ]
    return _fit(parts, [1, 0], SMS_MAX - link_length + len(LINK))


def hazard_voice(*, urgent: bool, place: str, category: str, detail: str, ask: str) -> str:
    """The same by voice, said twice, ending with the key to press."""
    head = hazard_headline(urgent=urgent, place=place, category=category)
    once = f"{head}。{sentence(detail, '')}{HAZARD_ASKS[ask][1]}。收到请按1。"
    return f"{once}重复一遍：{once}"


def report_link_sms(*, signature: str, name: str, place: str, link_length: int) -> str:
    """A contact's standing report link (险情上报链接), sent when it is made anew: what it is for,
    and that the one before no longer works; the place, then the name, cut to fit."""
    parts = [
        f"【{signature}】",
        f"{name}：",
        f"这是您在{place}",
        "的险情上报链接（此前的链接已失效），发现险情请点开填报：",
        LINK,
    ]
    return _fit(parts, [2, 1], SMS_MAX - link_length + len(LINK))
