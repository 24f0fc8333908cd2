"""Mobile numbers: parsed and checked with libphonenumber's metadata, stored as E.164."""

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


def normalize_mobile(raw: str) -> str:
    """The E.164 form of a mobile number (national Chinese numbers allowed); ValueError otherwise."""
    try:
        number = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{raw!r} is not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"{raw!r} is not a valid phone number")
    if phonenumbers.number_type(number) not in MOBILE_TYPES:
        raise ValueError(f"{raw!r} is not a mobile number; SMS and the voice ladder need a mobile")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def mask(phone: str) -> str:
    """A phone number as auditors see it: +86138****0000."""
    return phone[:6] + "****" + phone[-4:] if len(phone) > 10 else phone[:3] + "****"
