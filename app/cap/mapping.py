"""What a CAP alert means as a Jiaoying warning: which info block, level, hazard, areas and mode.

- Info (`cap.languages`): among several (one per language) the zh-CN block, else another Chinese
  one, else the first; blocks in the chosen language are read together, one warning per level they
  state (their areas joined within a level).
- Other languages (`cap.languages`): a block whose language (its primary subtag: ug for ug-CN, kk
  for kk-Arab-CN) differs from the chosen one's gives the warning's `translations` in it: headline
  as title, description, instruction. A warning takes the block standing where its first block
  stands among the chosen language's, in a language with as many blocks; else, when the message
  makes it alone, the language's first block. Only the first tag written for a language is read, and
  only the first ten languages; a translation never refuses an alert (its text is cut and cleaned to
  fit).
- Level (`cap.levels`): a Chinese level in a `parameter` (红/橙/黄/蓝色, Ⅰ-Ⅳ级), else in the headline
  (…橙色预警, …Ⅱ级预警, [Ⅲ级/较重], "blue warning", "[Level IV/General]"; a headline that changes the level
  gives the one it was raised, lowered or set to: 橙色预警信号升级为红色预警信号 is red), else from severity:
  Extreme red, Severe orange, Moderate yellow, Minor blue.
- Areas: by geocode `CPEAS Geographic Code` (6- or 12-digit region codes) only. An area without one
  (another scheme, a polygon or circle alone) cannot be placed: the alert is refused, naming it.
- Status: Actual, Exercise, Test become modes actual, exercise, test; System and Draft are refused.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from app.cap.languages import LIMITS, chosen_infos, clip, one_line, other_languages, translations_of
from app.cap.levels import LEVEL_COLOUR, level_of
from app.cap.parse import Info, Message
from app.errors import Unprocessable, invalid_body
from app.region.service import normalize_code
from app.warning.schemas import WarningIn

GEOCODE_SCHEME = "CPEAS Geographic Code"
MODES = {"Actual": "actual", "Exercise": "exercise", "Test": "test"}


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


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment else None


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
        by_level.setdefault((one_line(info.event), stated[0]), []).append((info, stated[1]))
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
    hazard = one_line(first.event)
    title = one_line(first.headline or "") or f"{hazard}{LEVEL_COLOUR[level]}预警"
    fields: dict[str, Any] = {
        "hazard": clip(hazard, LIMITS["hazard"]),
        "level": level,
        "title": clip(title, LIMITS["title"]),
        "description": clip(first.description, LIMITS["description"]),
        "instruction": clip(first.instruction, LIMITS["instruction"]),
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
    reason = clip(message.note or headline or "", 500) or ""
    withdrawn = any(word in reason for word in ("撤回", "误发", "誤發", "错发"))
    return ("withdrawn" if withdrawn else "lifted"), reason
