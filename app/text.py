"""Text fields of requests: trimmed, and free of control characters (NUL above all).

Bound them where used: `Annotated[SingleLine, StringConstraints(min_length=1, max_length=100)]`.
"""

from typing import Annotated

from pydantic import StringConstraints

# One line: no control characters at all.
SingleLine = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[^\x00-\x1f\x7f]*$")]
# Several lines: tabs and line breaks allowed, other control characters not.
MultiLine = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]
