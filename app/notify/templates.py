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
        (instruction or "请立即做好防范") + "。",
        "收到请点 ",
        LINK,
    ]
    return _fit(parts, [3, 1], SMS_MAX - link_length + len(LINK))


def alert_voice(*, level: str, hazard: str, mode: str, area: str, instruction: str | None) -> str:
    """The warning by voice: no link; said twice, ending with the key to press."""
    once = f"{headline(level, hazard, mode)}。{area}，{instruction or '请立即做好防范'}。收到请按1。"
    return f"{once}重复一遍：{once}"


def escalation_sms(
    *, signature: str, level: str, hazard: str, mode: str, unreached: list[str], link_length: int
) -> str:
    """To a supervisor: the villages nobody has answered for."""
    names = "、".join(unreached)
    parts = [f"【{signature}】{headline(level, hazard, mode)}：", names, "未应答，请上门叫醒。", "收到请点 ", LINK]
    return _fit(parts, [1], SMS_MAX - link_length + len(LINK))


def escalation_voice(*, level: str, hazard: str, mode: str, unreached: list[str]) -> str:
    once = f"{headline(level, hazard, mode)}。{'、'.join(unreached[:5])}未应答，请上门叫醒。收到请按1。"
    return f"{once}重复一遍：{once}"


def closing_text(
    *, signature: str | None, kind: str, level: str, hazard: str, mode: str, area: str, reason: str | None
) -> str:
    """A lifting (解除) or withdrawal (撤回) notice; with a signature for SMS, without for voice."""
    if kind == "withdrawal":
        body = "预警系误发，现予撤回，请按原状态工作。"
    else:
        body = "预警已解除。" + (f"{reason}。" if reason else "")
    prefix = f"【{signature}】" if signature else ""
    parts = [f"{prefix}{headline(level, hazard, mode)}", "（", area, "）", body]
    return _fit(parts, [4, 2], SMS_MAX)
