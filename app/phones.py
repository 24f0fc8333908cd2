"""Mobile numbers: parsed and checked with libphonenumber's metadata, stored as E.164."""

import re

import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberFormat, PhoneNumberType

MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
# The shape almost every roster uses: an 11-digit mainland number, bare or with +86. For it the
# parsed number is known without running the general parser (a third of the cost per number);
# whether it is a real mobile number is still decided by the library's metadata below.
_MAINLAND = re.compile(r"(?:\+86)?(1\d{10})")


def normalize_mobile(raw: str) -> str:
    """The E.164 form of a mobile number (national Chinese numbers allowed); ValueError otherwise."""
    mainland = _MAINLAND.fullmatch(raw)
    if mainland:
        number = PhoneNumber(country_code=86, national_number=int(mainland.group(1)))
    else:
        try:
            number = phonenumbers.parse(raw, "CN")
        except phonenumbers.NumberParseException as exc:
            raise ValueError(f"{raw!r} is not a phone number") from exc
    # number_type is UNKNOWN exactly when is_valid_number is false; one lookup instead of two.
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        raise ValueError(f"{raw!r} is not a valid phone number")
    if kind not in MOBILE_TYPES:
        raise ValueError(f"{raw!r} is not a mobile number; SMS and the voice ladder need a mobile")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def mask(phone: str) -> str:
    """A phone number as auditors see it: +86138****0000."""
    return phone[:6] + "****" + phone[-4:] if len(phone) > 10 else phone[:3] + "****"
