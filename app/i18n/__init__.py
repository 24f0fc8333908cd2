"""Message catalogs: every text a person receives or reads, in the language they read.

Chinese (`zh`) is the source: a message id is the Chinese text itself, with `{name}` fields, so
code reads as what the person gets. The shipped catalogs are gettext PO files in
`app/i18n/catalogs/{language}.po` (Uyghur `ug` and Kazakh `kk`, both in the Arabic script used in
Xinjiang, right to left); `messages.pot` lists every id (`make catalogs` extracts it and merges new
ids into each catalog). A county extends or corrects them without code: `{language}.po` files in
`JIAOYING_CATALOG_DIR` override the shipped entries one by one, and a file for a language not
shipped adds that language. PO files are read as they are (Babel), with no compile step.

Ids with several words (replies that say "received", the words that start a hazard report) list
them separated by `|`.
"""

import logging
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from string import Formatter

from babel import Locale, UnknownLocaleError
from babel.messages.pofile import read_po

SOURCE = "zh"
SHIPPED = Path(__file__).parent / "catalogs"
# Where CLDR means another script than the one used here: its `kk` is Cyrillic, Xinjiang writes Arabic.
CLDR_LOCALES = {"kk": "kk_Arab", "zh": "zh_Hans"}
# Scripts written right to left (ISO 15924), for a tag that names its script.
RTL_SCRIPTS = frozenset({"Arab", "Hebr", "Syrc", "Thaa", "Nkoo", "Adlm", "Rohg", "Mand", "Samr"})
# Languages the cloud voice services speak (text to speech); others hear Chinese (see app.notify.templates).
SPOKEN = frozenset({"zh"})

_directory: Path | None = None
log = logging.getLogger(__name__)


def configure(directory: Path | str | None) -> None:
    """Use a county's catalog folder (JIAOYING_CATALOG_DIR) over the shipped catalogs."""
    global _directory
    _directory = Path(directory) if directory else None
    _load.cache_clear()
    _load()  # read now: a file that cannot be read is logged at start, not at the first message


def N_(message: str) -> str:
    """Mark a text for the catalog where it is defined; it is translated where it is shown."""
    return message


@dataclass(frozen=True)
class Catalog:
    language: str
    messages: dict[str, str]  # id -> translation (only those translated)
    direction: str  # "ltr" | "rtl"

    def gettext(self, message: str) -> str:
        return self.messages.get(message) or message

    def __call__(self, message: str, **fields: object) -> str:
        """The text in this language, its `{fields}` filled in. A translation that cannot be filled
        in (a county's slip the load let through) gives way to the Chinese rather than stop the message."""
        text = self.gettext(message)
        if not fields:
            return text
        try:
            return text.format(**fields)
        except Exception:  # any slip in a translation: the Chinese goes instead
            log.warning("catalog %s: %r cannot be filled in; the Chinese goes instead", self.language, text)
            return message.format(**fields)

    def words(self, message: str) -> frozenset[str]:
        """The words an id lists (`a|b|c`), in this language and in Chinese."""
        return frozenset(w for w in (*message.split("|"), *self.gettext(message).split("|")) if w)


def _fields(text: str) -> list[str] | None:
    """The `{fields}` a text fills in, in order; None if it is not a plain format string
    (`{hazard.name}`, `{count[0]}`, a stray brace)."""
    try:
        parsed = list(Formatter().parse(text))
    except ValueError:
        return None
    names = [name for _, name, spec, conversion in parsed if name is not None]
    if any(not name.isidentifier() for name in names) or any(spec or conv for _, _, spec, conv in parsed):
        return None
    return sorted(names)


def _entries(path: Path) -> tuple[dict[str, str], str | None]:
    """A PO file's usable entries, and the locale its header names (`ky_Arab`); an entry whose
    fields differ from its id's is left out, with a warning naming it."""
    with path.open("rb") as source:
        catalog = read_po(source)
    entries = {}
    for m in catalog:
        if not (isinstance(m.id, str) and m.id and isinstance(m.string, str) and m.string) or m.fuzzy:
            continue
        if _fields(m.string) != _fields(m.id):
            log.warning("catalog %s: the entry for %r has other fields than its id; left out", path, m.id)
            continue
        entries[m.id] = m.string
    return entries, catalog.locale_identifier


def direction_of(language: str) -> str:
    """Right to left where the language's script is: the script a tag names (`ky_Arab`, `kk`
    as Xinjiang writes it), else CLDR's character order for the language."""
    tag = CLDR_LOCALES.get(language, language).replace("-", "_")
    if any(part in RTL_SCRIPTS for part in tag.split("_")[1:]):
        return "rtl"
    try:
        locale = Locale.parse(tag)
    except (UnknownLocaleError, ValueError):
        return "ltr"
    return "rtl" if locale.character_order == "right-to-left" else "ltr"


@lru_cache(maxsize=1)
def _load() -> dict[str, Catalog]:
    found: dict[str, dict[str, str]] = {SOURCE: {}}
    locales: dict[str, str] = {}
    folders = [SHIPPED, *([_directory] if _directory else [])]
    for folder in folders:  # the county's entries after (over) the shipped ones
        for path in sorted(folder.glob("*.po")):
            try:
                entries, locale = _entries(path)
            except Exception as error:  # a file that cannot be read is left out, loudly
                log.error("catalog %s cannot be read (%s); it is left out", path, error)
                continue
            found.setdefault(path.stem, {}).update(entries)
            if locale and "_" in locale:  # the header names the script: ky_Arab
                locales[path.stem] = locale
    return {lang: Catalog(lang, messages, direction_of(locales.get(lang, lang))) for lang, messages in found.items()}


def languages() -> tuple[str, ...]:
    """Every language with a catalog, Chinese first."""
    return tuple(sorted(_load(), key=lambda lang: (lang != SOURCE, lang)))


def catalog(language: str | None) -> Catalog:
    """The catalog of a language; Chinese for none, or one without a catalog (its `.language` then
    says zh: a language stored before its catalog was removed reads as Chinese, left to right)."""
    catalogs = _load()
    return catalogs.get(language or SOURCE) or catalogs[SOURCE]


def known_language(raw: str, known: Collection[str] | None = None) -> str:
    """A language with a catalog as stored (a BCP 47 primary subtag, lower case: `UG` -> `ug`);
    ValueError naming the languages there are. `known`: languages(), when checking many values."""
    language = raw.strip().lower()
    if language not in (languages() if known is None else known):
        raise ValueError(f"language {raw[:20]!r} has no message catalog; use one of {', '.join(languages())}")
    return language
