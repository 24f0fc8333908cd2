"""Which info blocks of a CAP alert are read (its preferred language), the others as translations, cut to fit."""

import re

from app.cap.parse import Info, Message
from app.errors import Unprocessable
from app.text import without_controls
from app.warning.schemas import MAX_TRANSLATIONS

LIMITS = {"hazard": 50, "title": 200, "description": 2000, "instruction": 500}


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
    title = one_line(without_controls(info.headline or ""))
    texts = {
        "hazard": clip(one_line(without_controls(info.event or "")), LIMITS["hazard"]),
        "title": clip(title, LIMITS["title"]),
        "description": clip(without_controls(info.description or "").strip(), LIMITS["description"]),
        "instruction": clip(without_controls(info.instruction or "").strip(), LIMITS["instruction"]),
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


def one_line(value: str) -> str:
    """The text on one line, every run of whitespace (newlines too) a single space."""
    return " ".join(value.split())


def clip(value: str | None, limit: int) -> str | None:
    """Text longer than the warning holds is cut with an ellipsis; the whole alert stays on record."""
    if value is None or len(value) <= limit:
        return value
    return value[: limit - 1] + "…"
