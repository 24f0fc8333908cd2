"""Request authentication and role checks."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app import throttle
from app.auth import service as auth_service
from app.auth.service import Principal
from app.config import SettingsDep
from app.db import SessionDep
from app.errors import Forbidden, Unauthorized

BAD_KEYS_A_MINUTE = 10
_bearer = HTTPBearer(auto_error=False, description="An API key, or the bootstrap admin token.")


async def get_principal(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller behind the bearer token; 401 when there is none or it is not valid, and 429 once
    an address has sent ten bad keys within a minute."""
    if credentials is None or not credentials.credentials:
        raise Unauthorized()
    key = f"bad-key:{throttle.address(request)}"
    throttle.refuse_if_blocked(key, "requests with a bad API key")
    principal = await auth_service.authenticate(session, credentials.credentials, admin_token=settings.admin_token)
    if principal is None:
        await throttle.count_failure(request, session, key, limit=BAD_KEYS_A_MINUTE, what="requests with a bad API key")
        raise Unauthorized("This API key is not valid or has been revoked.")
    return principal


def require_role(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role != "admin" and principal.role not in roles:
            allowed = " or ".join(dict.fromkeys((*roles, "admin")))
            raise Forbidden(f"This needs a key with role {allowed}; yours is {principal.role}.")
        return principal

    return check


PrincipalDep = Annotated[Principal, Depends(get_principal)]
AdminDep = Annotated[Principal, Depends(require_role("admin"))]
DutyOfficerDep = Annotated[Principal, Depends(require_role("duty_officer"))]
