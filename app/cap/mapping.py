"""What a CAP alert means as a Jiaoying warning: which info block, level, hazard, areas and mode.

- Info: among several (one per language) the zh-CN block, else another Chinese one, else the first;
  blocks in the chosen language are read together, one warning per level they state (their areas
  joined within a level).
- Other languages: a block whose language (its primary subtag: ug for ug-CN, kk for kk-Arab-CN)
  differs from the chosen one's gives the warning's `translations` in it: headline as title,
  description, instruction. A warning takes the block standing where its first block stands among
  the chosen language's, in a language with as many blocks; else, when the message makes it alone,
  the language's first block. Only the first tag written for a language is read, and only the
  first ten languages; a translation never refuses an alert (its text is cut and cleaned to fit).
- Level: a Chinese level in a `parameter` (红/橙/黄/蓝色, Ⅰ-Ⅳ级), else in the headline (…橙色预警,
  …Ⅱ级预警, [Ⅲ级/较重], "blue warning", "[Level IV/General]"; a headline that changes the level
  gives the one it was raised, lowered or set to: 橙色预警信号升级为红色预警信号 is red), else from
  severity: Extreme red, Severe orange, Moderate yellow, Minor blue.
- Areas: by geocode `CPEAS Geographic Code` (6- or 12-digit region codes) only. An area without one
  (another scheme, a polygon or circle alone) cannot be placed: the alert is refused, naming it.
- Status: Actual, Exercise, Test become modes actual, exercise, test; System and Draft are refused.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from app.cap.parse import Info, Message
from app.errors import Unprocessable, invalid_body
from app.region.service import normalize_code
from app.text import without_controls
from app.warning.schemas import MAX_TRANSLATIONS, WarningIn

GEOCODE_SCHEME = "CPEAS Geographic Code"
MODES = {"Actual": "actual", "Exercise": "exercise", "Test": "test"}
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
LIMITS = {"hazard": 50, "title": 200, "description": 2000, "instruction": 500}


@dataclass
class Mapped:
    """A warning as the alert describes it, and where each area code came from (for error locations)."""

    data: WarningIn
    code_locs: dict[str, list[str | int]]
    level_from: str  # parameter, headline or severity


class Problems:
    """Every problem found in a message, reported together in one 422."""

    def __init__(self) -> None:
        self.details: list[str] = []
        self.errors: list[dict[str, Any]] = []

    def add(self, problem: Unprocessable) -> None:
        self.details.append(problem.detail.rstrip("."))
        self.errors.extend(problem.errors or [])

    def raise_if_any(self) -> None:
        if len(self.details) == 1:
            raise Unprocessable(self.details[0] + ".", errors=self.errors)
        if self.details:
            raise Unprocessable(
                f"The alert has {len(self.details)} problems: " + "; ".join(self.details) + ".", errors=self.errors
            )


def mode_of(message: Message) -> str:
    """The warning mode for the alert's status; System and Draft messages are not warnings."""
    mode = MODES.get(message.status)
    if mode is None:
        raise Unprocessable(
            f"A CAP message with status {message.status} is not a warning; Jiaoying takes Actual, Exercise and Test.",
            errors=[{"loc": ["body", "alert", "status"], "msg": f"status {message.status} is not taken"}],
        )
    return mode


def chosen_infos(message: Message) -> list[Info]:
    """The info blocks in the preferred language: zh-CN, else another Chinese one, else the first's."""
    if not message.infos:
        raise Unprocessable(
            f"An {message.msg_type} needs an <info> block saying what the warning is and where.",
            errors=[{"loc": ["body", "alert", "info"], "msg": "no info block"}],
        )

    def rank(info: Info) -> int:
        language = info.language.lower()
        return 0 if language == "zh-cn" else 1 if language.startswith("zh") else 2

    best = min(message.infos, key=lambda info: (rank(info), info.index))
    return [info for info in message.infos if info.language.lower() == best.language.lower()]


def primary_language(language: str) -> str:
    """The primary subtag of a language tag, lower-case: ug for ug-CN, kk for kk-Arab-CN."""
    return re.split(r"[-_]", language.strip(), maxsplit=1)[0].lower()


def other_languages(message: Message, chosen: list[Info]) -> dict[str, list[Info]]:
    """The blocks in languages other than the chosen blocks', by primary subtag: those of the first
    tag written for each (en-US, not a later en-GB), the first MAX_TRANSLATIONS languages. A tag
    whose primary subtag is not 2 or 3 letters (x-, i-) is set aside."""
    own = primary_language(chosen[0].language)
    tags: dict[str, str] = {}
    blocks: dict[str, list[Info]] = {}
    for info in message.infos:
        language = primary_language(info.language)
        if language == own or not re.fullmatch(r"[a-z]{2,3}", language):
            continue
        if tags.setdefault(language, info.language.lower()) != info.language.lower():
            continue
        if language in blocks or len(blocks) < MAX_TRANSLATIONS:
            blocks.setdefault(language, []).append(info)
    return blocks


def _texts(info: Info) -> dict[str, str]:
    """A block's event, headline, description and instruction as a translation, cut and cleaned to fit."""
    title = _one_line(without_controls(info.headline or ""))
    texts = {
        "hazard": _clip(_one_line(without_controls(info.event or "")), LIMITS["hazard"]),
        "title": _clip(title, LIMITS["title"]),
        "description": _clip(without_controls(info.description or "").strip(), LIMITS["description"]),
        "instruction": _clip(without_controls(info.instruction or "").strip(), LIMITS["instruction"]),
    }
    return {name: value for name, value in texts.items() if value}


def translations_of(
    others: dict[str, list[Info]], chosen: list[Info], first: Info, *, alone: bool
) -> dict[str, dict[str, str]]:
    """A warning's texts in other languages, the warning read from `chosen` starting at `first`:
    in each language, the block at the same place (when the language has as many blocks), else
    its first block when the message makes this warning `alone`."""
    place = next(index for index, info in enumerate(chosen) if info is first)
    found: dict[str, dict[str, str]] = {}
    for language, blocks in others.items():
        block = blocks[place] if len(blocks) == len(chosen) else blocks[0] if alone else None
        texts = _texts(block) if block is not None else {}
        if texts.get("hazard") == _texts(first).get("hazard"):
            texts.pop("hazard")  # the event as the Chinese block names it: nothing translated
        if texts:
            found[language] = texts
    return found


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


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment else None


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _clip(value: str | None, limit: int) -> str | None:
    """Text longer than the warning holds is cut with an ellipsis; the whole alert stays on record."""
    if value is None or len(value) <= limit:
        return value
    return value[: limit - 1] + "…"


def area_codes(infos: list[Info], problems: Problems | None = None) -> dict[str, list[str | int]]:
    """Region codes of the areas (12 digits) with the location of each; 422 naming every area that
    has none (given `problems`, added there, and the codes found returned all the same)."""
    codes: dict[str, list[str | int]] = {}
    errors: list[dict[str, Any]] = []
    for info in infos:
        if not info.areas:
            loc: list[str | int] = ["body", "alert", "info", info.index, "area"]
            errors.append({"loc": loc, "msg": "this info block names no area"})
        for area in info.areas:
            loc = ["body", "alert", "info", info.index, "area", area.index]
            ours = [value for name, value in area.geocodes if name.strip().lower() == GEOCODE_SCHEME.lower()]
            for value in ours:
                code = normalize_code(value)
                if code is None:
                    errors.append({"loc": loc, "msg": f"{area.desc}: {GEOCODE_SCHEME} {value!r} is not 6 or 12 digits"})
                else:
                    codes.setdefault(code, loc)
            if not ours:
                why = _why_unplaced(area.geocodes, area.polygons, area.circles)
                errors.append({"loc": loc, "msg": f"{area.desc}: {why}"})
    if errors:
        named = "; ".join(str(error["msg"]) for error in errors[:10])
        unplaced = Unprocessable(
            f"These areas could not be mapped to regions: {named}. Areas are placed by geocode "
            f"'{GEOCODE_SCHEME}' (6- or 12-digit region codes).",
            errors=errors,
        )
        if problems is None:
            raise unplaced
        problems.add(unplaced)
    return codes


def _why_unplaced(geocodes: list[tuple[str, str]], polygons: int, circles: int) -> str:
    schemes = list(dict.fromkeys(name for name, _ in geocodes))
    shapes = [kind for kind, count in (("polygon", polygons), ("circle", circles)) if count]
    if schemes:
        return f"only geocodes of scheme {', '.join(schemes)}, no {GEOCODE_SCHEME}"
    if shapes:
        return f"a {' and a '.join(shapes)} without a {GEOCODE_SCHEME}"
    return f"no {GEOCODE_SCHEME}"


def warnings_of(message: Message, problems: Problems | None = None) -> list[Mapped]:
    """The warnings an Alert or Update describes: one per level its info blocks state (a bureau
    raising part of its area, or warning different areas at different levels, in one message; and
    one per hazard), each with the areas of its blocks, in the order they first appear. A 422 names everything
    that cannot be mapped, at once; given `problems`, what is found is added there instead, for the
    caller to report with its own (and the warnings hold whatever could be read)."""
    found = problems if problems is not None else Problems()
    mode = "actual"
    try:
        mode = mode_of(message)
    except Unprocessable as exc:
        found.add(exc)
    infos = chosen_infos(message)
    by_level: dict[tuple[str, str], list[tuple[Info, str]]] = {}
    for info in infos:
        stated = level_of(info)
        if stated is None:
            found.add(
                Unprocessable(
                    "The alert states no level: no Chinese level in a parameter or the headline, and severity "
                    f"{info.severity}. Add a parameter such as 预警级别=橙色, or a severity other than Unknown",
                    errors=[{"loc": ["body", "alert", "info", info.index, "severity"], "msg": "no level stated"}],
                )
            )
            continue
        by_level.setdefault((_one_line(info.event), stated[0]), []).append((info, stated[1]))
    if not by_level:  # nothing states a level: the areas are still checked, for the one 422
        area_codes(infos, found)
        by_level = {("", "blue"): [(infos[0], "none")]}
    others = other_languages(message, infos)
    mapped = [
        _one_warning(
            [info for info, _ in blocks], level, blocks[0][1], mode, found,
            translations_of(others, infos, blocks[0][0], alone=len(by_level) == 1),
        )
        for (_, level), blocks in by_level.items()
    ]  # fmt: skip
    if problems is None:
        found.raise_if_any()
    return mapped


def _one_warning(
    infos: list[Info], level: str, level_from: str, mode: str, found: Problems, translations: dict[str, dict[str, str]]
) -> Mapped:
    """The warning the info blocks of one level describe, with all their areas and its texts in
    other languages."""
    first = infos[0]
    codes = area_codes(infos, found)
    hazard = _one_line(first.event)
    title = _one_line(first.headline or "") or f"{hazard}{LEVEL_COLOUR[level]}预警"
    fields: dict[str, Any] = {
        "hazard": _clip(hazard, LIMITS["hazard"]),
        "level": level,
        "title": _clip(title, LIMITS["title"]),
        "description": _clip(first.description, LIMITS["description"]),
        "instruction": _clip(first.instruction, LIMITS["instruction"]),
        "area_codes": list(codes) or ["000000000000"],
        # When the hazard begins; a message that says only when it takes effect, from then.
        "onset": _utc(next((info.onset or info.effective for info in infos if info.onset or info.effective), None)),
        "expires": _utc(next((info.expires for info in infos if info.expires), None)),
        "mode": mode,
        "translations": translations or None,
    }
    try:
        data = WarningIn(**fields)
    except ValidationError as exc:
        found.add(invalid_body(exc, "The warning this alert describes"))
        data = WarningIn.model_construct(**fields)  # reported above: never issued
    return Mapped(data=data, code_locs=codes, level_from=level_from)


def cancel_of(message: Message) -> tuple[str, str]:
    """(kind, reason) of a Cancel: 撤回 (withdrawn) when the note or headline says it was issued in
    error (撤回, 误发), else 解除 (lifted)."""
    mode_of(message)
    infos = chosen_infos(message) if message.infos else []
    headline = next((info.headline for info in infos if info.headline), None)
    reason = _clip(message.note or headline or "", 500) or ""
    withdrawn = any(word in reason for word in ("撤回", "误发", "誤發", "错发"))
    return ("withdrawn" if withdrawn else "lifted"), reason
