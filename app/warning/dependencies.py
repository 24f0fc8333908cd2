"""What warning routes, and the routes of other packages about one warning, take from a request:
the warning in the path (readable by the caller), and the heartbeat to wake after a commit."""

from typing import Annotated

from fastapi import Depends, Request

from app.auth.dependencies import PrincipalDep
from app.db import SessionDep
from app.models.warning import Warning
from app.warning import service as warning_service


async def readable_warning(warning_id: str, session: SessionDep, principal: PrincipalDep) -> Warning:
    """The warning in the path, if its areas overlap the caller's region."""
    return await warning_service.get_warning(session, warning_id, principal)


WarningDep = Annotated[Warning, Depends(readable_warning)]


def wake_heartbeat(request: Request, status: str) -> None:
    """After a commit that leaves a warning in `status`: the expansion if it is `expanding` (answered
    with 202), else the sender (its calls are due, or its closing notices)."""
    heartbeat = getattr(request.app.state, "heartbeat", None)
    if heartbeat is None:
        return
    if status == "expanding":
        heartbeat.wake_expansion()
    else:
        heartbeat.wake_sender()
