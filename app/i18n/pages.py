"""Pages people open from a message, in their language with Chinese beside it.

A page's context carries `lang` (the person's language). `tr("收到")` in a template gives the text
in that language and the Chinese after it, each marked with its own `lang` (and direction), so a
Uyghur page reads right to left with the Chinese set left to right within it; a Chinese page gets
the Chinese alone. `tr_plain` does the same where markup cannot go (a title, an option).
`page_lang` gives the `<html lang dir>` attributes. Fonts come from the phone (the stacks below
name what cheap Android phones carry); no web font is downloaded.
"""

from typing import Any

from jinja2 import Environment, pass_context
from markupsafe import Markup, escape

from app.i18n import SOURCE, catalog, direction_of, languages

# Font stacks: Android's Noto (and Noto Naskh Arabic for Uyghur and Kazakh letters), then others'.
FONTS = {
    "rtl": '"Noto Naskh Arabic","Noto Sans Arabic","UKIJ Tuz","Microsoft Uighur","Noto Sans CJK SC",'
    '"Droid Sans Fallback",sans-serif',
    "ltr": 'system-ui,"PingFang SC","Noto Sans CJK SC","Droid Sans Fallback","Microsoft YaHei",sans-serif',
}
HTML_LANG = {"zh": "zh-CN", "kk": "kk-Arab"}


def _chinese(message: str, fields: dict[str, Any]) -> str:
    return message.format(**fields) if fields else message


def _isolated(fields: dict[str, Any]) -> dict[str, str]:
    """Fields (a time, a place in Chinese) set apart from the right-to-left text around them (the
    Unicode isolates FSI ... PDI), so that their own direction does not reorder the sentence."""
    return {name: f"\u2068{value}\u2069" for name, value in fields.items()}


@pass_context
def tr(context: Any, message: str, **fields: Any) -> Markup:
    lang = context.get("lang") or SOURCE
    chinese = escape(_chinese(message, fields))
    own_catalog = catalog(lang)
    if lang == SOURCE or own_catalog.gettext(message) == message:
        return Markup(chinese)
    own = own_catalog(message, **(_isolated(fields) if own_catalog.direction == "rtl" else fields))
    tag = HTML_LANG.get(lang, lang)
    return Markup(
        f'<span lang="{tag}" dir="{direction_of(lang)}">{escape(own)}</span>'
        f' <span class="zh" lang="zh-CN" dir="ltr">{chinese}</span>'
    )


@pass_context
def tr_plain(context: Any, message: str, **fields: Any) -> str:
    lang = context.get("lang") or SOURCE
    chinese, own = _chinese(message, fields), catalog(lang)(message, **fields)
    return chinese if lang == SOURCE or own == chinese else f"{own} / {chinese}"


@pass_context
def page_lang(context: Any) -> Markup:
    """`lang="ug" dir="rtl"` for the page's `<html>`."""
    lang = context.get("lang") or SOURCE
    return Markup(f'lang="{HTML_LANG.get(lang, lang)}" dir="{direction_of(lang)}"')


@pass_context
def font_stack(context: Any) -> Markup:
    return Markup(FONTS[direction_of(context.get("lang") or SOURCE)])


def install(env: Environment) -> None:
    env.globals.update(tr=tr, tr_plain=tr_plain, page_lang=page_lang, font_stack=font_stack)


def from_accept_language(header: str | None) -> str:
    """The first language of a browser's Accept-Language with a catalog (Chinese otherwise): for
    pages shown without a person, a dead link's."""
    known = set(languages())
    for part in (header or "").split(","):
        tag, *params = (piece.strip() for piece in part.split(";"))
        if any(param.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for param in params):
            continue  # "not this one"
        primary = tag.split("-")[0].lower()
        if primary in known:
            return primary
    return SOURCE
