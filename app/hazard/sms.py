"""Hazard reports sent by SMS: "险情：…" from a phone on the roster, in the sender's languages."""

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app import i18n
from app.hazard.schemas import HazardIn
from app.hazard.steps import report_hazard
from app.i18n import N_
from app.models.contact import Contact
from app.models.hazard import Hazard

# An SMS that starts with one of these, from a phone on the roster, is a report of that person's region.
# The words an SMS report starts with, and the word that makes it urgent, with each catalog's.
SMS_PREFIXES = N_("险情|报告")
URGENT_WORD = N_("紧急")
_SEPARATORS = "：:，,。；;،؛ \u3000"


def sms_report(text: str, languages: Iterable[str] = ()) -> tuple[str, str, bool] | None:
    """(category, description, urgent) of a report sent by SMS, or None if the text is no report:
    "险情：后山裂缝，有落石" is a report of 后山裂缝; 紧急 anywhere makes it urgent. The words of the
    sender's languages count as the Chinese ones do."""
    body = text.strip()
    catalogs = [i18n.catalog(lang) for lang in (i18n.SOURCE, *languages)]
    prefixes = sorted({word for c in catalogs for word in c.words(SMS_PREFIXES)}, key=len, reverse=True)
    urgent_words = {word for c in catalogs for word in c.words(URGENT_WORD)}
    prefix = next((p for p in prefixes if body.startswith(p)), None)
    if prefix is None:
        return None
    rest = body[len(prefix) :]
    # Another language's word counts only as a heading, with a colon after it: in Uyghur and
    # Kazakh "no danger" is the danger word and a word after it (خەتەر يوق), or one word (خەتەرسىز).
    if prefix not in SMS_PREFIXES.split("|") and not rest.lstrip().startswith((":", "：")):
        return None
    rest = rest.lstrip(_SEPARATORS)
    if not rest:
        return None
    first = rest
    for separator in "，,。；;،؛":
        first = first.split(separator, 1)[0]
    for word in urgent_words:
        first = first.replace(word, "")
    category = first.strip(_SEPARATORS)[:50] or prefix
    return category, rest[:2000], any(word in body for word in urgent_words)


async def report_by_sms(
    session: AsyncSession, contact: Contact, text: str, *, languages: Iterable[str], now: datetime
) -> Hazard | None:
    """A report sent by SMS by a person on the roster: of their own region, by them; its words
    read in the languages of the phone's roster entries."""
    parsed = sms_report(text, languages)
    if parsed is None:
        return None
    category, description, urgent = parsed
    data = HazardIn(region_code=contact.region_code, category=category, description=description, urgent=urgent,
                    source="sms")  # fmt: skip
    return await report_hazard(session, data, actor=contact.name, now=now, reporter_contact=contact)
