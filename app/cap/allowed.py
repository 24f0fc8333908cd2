"""What a CAP message may ask for, and which key may ask it: the types taken, the warnings a key reads or changes."""

from app.auth import scope
from app.auth.service import Principal
from app.cap.parse import Message
from app.errors import Forbidden, Unprocessable
from app.models.cap import CapAlert
from app.models.warning import Warning


def ensure_actionable(message: Message) -> None:
    """Only an Alert, Update or Cancel changes warnings, and an Update or Cancel names what it changes."""
    if message.msg_type not in ("Alert", "Update", "Cancel"):
        raise Unprocessable(
            f"A CAP {message.msg_type} message changes no warning; send Alert, Update or Cancel.",
            errors=[{"loc": ["body", "alert", "msgType"], "msg": f"msgType {message.msg_type} is not taken"}],
        )
    if message.msg_type != "Alert" and not message.references:
        raise Unprocessable(
            f"An {message.msg_type} must name the alert it changes in <references>.",
            errors=[{"loc": ["body", "alert", "references"], "msg": "missing"}],
        )


def ensure_own_alert(principal: Principal, warning: Warning) -> None:
    """An alert already taken is answered only to a caller who could have posted it (its warning
    is not named to anyone else)."""
    if not scope.covers_warning(principal, warning):
        raise Forbidden(f"The alert's areas lie outside your key's region {principal.region_code}.")


def could_have_posted(principal: Principal, alert: CapAlert) -> bool:
    """Whether the key that posted `alert` could have posted whatever this key posts: it is limited
    to no region, or to one holding this key's."""
    within = alert.received_within
    own = principal.within
    return within is None or (own is not None and own.startswith(within))
