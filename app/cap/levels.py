"""The level a CAP info block states: a Chinese level in a parameter, else in its headline, else its severity."""

import re

from app.cap.parse import Info

SEVERITY_LEVEL = {"Extreme": "red", "Severe": "orange", "Moderate": "yellow", "Minor": "blue"}
LEVEL_SEVERITY = {level: severity for severity, level in SEVERITY_LEVEL.items()}
LEVEL_COLOUR = {"red": "红色", "orange": "橙色", "yellow": "黄色", "blue": "蓝色"}
_COLOUR = {"红": "red", "紅": "red", "橙": "orange", "黄": "yellow", "黃": "yellow", "蓝": "blue", "藍": "blue"}
_GRADE = {"Ⅰ": "red", "Ⅱ": "orange", "Ⅲ": "yellow", "Ⅳ": "blue", "I": "red", "II": "orange", "III": "yellow",
          "IV": "blue", "一": "red", "二": "orange", "三": "yellow", "四": "blue"}  # fmt: skip
_ENGLISH = {"red": "red", "orange": "orange", "yellow": "yellow", "blue": "blue"}
_COLOUR_TEXT = re.compile(r"([红紅橙黄黃蓝藍])色")
_GRADE_TEXT = re.compile(r"(Ⅳ|Ⅲ|Ⅱ|Ⅰ|IV|III|II|I|四|三|二|一)\s*[级級]")
# In a headline a colour or grade counts only as the warning's own: 橙色预警, Ⅱ级预警, [Ⅲ级/较重].
_HEADLINE_COLOUR = re.compile(r"([红紅橙黄黃蓝藍])色\s*(?:预警|預警|警报|警報|警戒|警示|信号|信號)")
_HEADLINE_GRADE = re.compile(r"(Ⅳ|Ⅲ|Ⅱ|Ⅰ|IV|III|II|I)\s*[级級]\s*(?:预警|預警|警报|警報|/|／)")
# A headline that changes a level names the old one first: 将高温橙色预警信号升级为高温红色预警信号. The
# level it was raised, lowered or set to is the warning's.
_HEADLINE_CHANGED = re.compile(
    r"(?:升级|升級|降级|降級|调整|調整|变更|變更|更改|改)为\s*[^，。,;；]{0,20}?"
    r"(?:([红紅橙黄黃蓝藍])色|(Ⅳ|Ⅲ|Ⅱ|Ⅰ|IV|III|II|I)\s*[级級])"
)
_HEADLINE_ENGLISH = re.compile(r"\b(red|orange|yellow|blue)\s+(?:warning|alert|signal)\b", re.IGNORECASE)
_HEADLINE_LEVEL = re.compile(r"\bLevel\s+(IV|III|II|I)\b")


def level_of(info: Info) -> tuple[str, str] | None:
    """The level a CAP info block states, and where it was found; None when it states none."""
    for _, value in info.parameters:
        for pattern, table in ((_COLOUR_TEXT, _COLOUR), (_GRADE_TEXT, _GRADE)):
            if found := pattern.search(value):
                return table[found.group(1)], "parameter"
    for name, value in info.parameters:
        word = value.strip().lower()
        if ("level" in name.lower() or "colo" in name.lower()) and word in _ENGLISH:
            return _ENGLISH[word], "parameter"
    headline = info.headline or ""
    if changed := _HEADLINE_CHANGED.search(headline):
        colour, grade = changed.groups()
        return (_COLOUR[colour] if colour else _GRADE[grade]), "headline"
    for pattern, table in (
        (_HEADLINE_COLOUR, _COLOUR),
        (_HEADLINE_GRADE, _GRADE),
        (_HEADLINE_ENGLISH, _ENGLISH),
        (_HEADLINE_LEVEL, _GRADE),
    ):
        if found := pattern.search(headline):
            return table[found.group(1).lower() if table is _ENGLISH else found.group(1)], "headline"
    if info.severity in SEVERITY_LEVEL:
        return SEVERITY_LEVEL[info.severity], "severity"
    return None
