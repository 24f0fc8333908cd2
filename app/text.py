"""Text fields of requests: trimmed, and free of control characters (NUL above all).

Bound them where used: `Annotated[SingleLine, StringConstraints(min_length=1, max_length=100)]`.
"""

from typing import Annotated

from pydantic import AfterValidator, StringConstraints

# One line: no control characters at all.
SingleLine = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[^\x00-\x1f\x7f]*$")]
# Several lines: tabs and line breaks allowed, other control characters not.
MultiLine = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]
_CONTROLS = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


def without_controls(text: str) -> str:
    """Text as a phone sent it, its control characters dropped (a database refuses NUL): for what
    a gateway relays, which is kept rather than refused."""
    return text.translate(_CONTROLS)


# Relayed text (an SMS, a gateway's error): control characters dropped rather than refused.
Relayed = Annotated[str, AfterValidator(without_controls)]
