"""Console sessions: an API key exchanged for a signed cookie, and the CSRF tokens of its forms.

The cookie carries no secret: the key's id, a fingerprint of the key's stored hash, an expiry and a
random nonce, signed with HMAC-SHA256 under a key derived from the deployment's secret (the one
acknowledgement links are derived from, app.call.tokens). Every request reads the key again, so
revoking it ends its sessions at once. Each form carries a token derived from the session's nonce;
the sign-in form, before there is a session, one derived from a short-lived sign-in cookie.
"""

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Response
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from app.auth.service import Principal
from app.call.tokens import instance_secret
from app.config import SettingsDep
from app.db import SessionDep, dialect_insert, utc_now
from app.errors import AppError, Forbidden
from app.models.auth import ApiKey, EndedSession
from app.region import service as region_service

SESSION_COOKIE = "jy_session"
SIGNIN_COOKIE = "jy_signin"
COOKIE_PATH = "/console"
SESSION_SECONDS = 12 * 3600  # a duty shift
SIGNIN_SECONDS = 3600
ADMIN = "-"  # the key id recorded for the bootstrap admin token, which has none
ROLE_NAMES = {"admin": "管理员", "duty_officer": "值班员", "auditor": "督查"}


class SignInRequired(AppError):
    """No valid session: the page answers with a redirect to the sign-in form."""

    status = 401


@dataclass(frozen=True)
class WebSession:
    key_id: str
    fingerprint: str
    nonce: str
    expires: int

    @property
    def csrf(self) -> str:
        return _mac(f"csrf:{self.nonce}")


def _signing_key() -> bytes:
    return hmac.digest(instance_secret(), b"console-session", "sha256")


def _mac(text: str) -> str:
    digest = hmac.digest(_signing_key(), text.encode(), "sha256")
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _same(given: str, expected: str) -> bool:
    """Constant-time equality, for any text a browser may send (compare_digest takes ASCII str only)."""
    return hmac.compare_digest(given.encode(), expected.encode())


def _sign(*fields: str) -> str:
    payload = ".".join(fields)
    return f"{payload}.{_mac(payload)}"


def _unsign(value: str | None, count: int) -> list[str] | None:
    """The fields of a signed value, or None if it is malformed, forged or expired (last field)."""
    if not value or len(value) > 400:
        return None
    payload, _, signature = value.rpartition(".")
    fields = payload.split(".")
    if len(fields) != count or not _same(signature, _mac(payload)):
        return None
    if not fields[-1].isdigit() or int(fields[-1]) < time.time():
        return None
    return fields


def fingerprint(token_hash: str) -> str:
    """What a session remembers of a key: the start of its stored SHA-256."""
    return token_hash[:16]


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    settings = request.app.state.settings
    response.set_cookie(
        name, value, max_age=max_age, path=COOKIE_PATH, httponly=True, samesite="lax",
        secure=settings.public_url.startswith("https://"),
    )  # fmt: skip


def start_session(response: Response, request: Request, principal: Principal, token: str) -> None:
    """Sign the holder of `token` in: the session cookie replaces the sign-in cookie."""
    key_id = principal.key_id or ADMIN
    expires = str(int(time.time()) + SESSION_SECONDS)
    value = _sign(key_id, fingerprint(hashlib.sha256(token.encode()).hexdigest()), secrets.token_urlsafe(16), expires)
    _cookie(response, request, SESSION_COOKIE, value, SESSION_SECONDS)
    response.delete_cookie(SIGNIN_COOKIE, path=COOKIE_PATH)


async def end_session(session: AsyncSession, response: Response, web: WebSession) -> None:
    """Sign out: the cookie is dropped, and the session is ended on record, so that a copy of the
    cookie signs nobody in either (sessions ended long enough ago to have expired are pruned)."""
    now = utc_now()
    expires = datetime.fromtimestamp(web.expires, UTC)
    await session.execute(
        dialect_insert(session)(EndedSession).values(nonce=web.nonce, expires_at=expires).on_conflict_do_nothing()
    )
    await session.execute(delete(EndedSession).where(EndedSession.expires_at < now))
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)


def read_session(request: Request) -> WebSession | None:
    fields = _unsign(request.cookies.get(SESSION_COOKIE), 4)
    if fields is None:
        return None
    return WebSession(key_id=fields[0], fingerprint=fields[1], nonce=fields[2], expires=int(fields[3]))


def signin_csrf(request: Request) -> tuple[str, str | None]:
    """The sign-in form's token, and the sign-in cookie to set when the request has no valid one."""
    fields = _unsign(request.cookies.get(SIGNIN_COOKIE), 2)
    if fields is not None:
        return _mac(f"signin:{fields[0]}"), None
    nonce = secrets.token_urlsafe(16)
    return _mac(f"signin:{nonce}"), _sign(nonce, str(int(time.time()) + SIGNIN_SECONDS))


def set_signin_cookie(response: Response, request: Request, value: str) -> None:
    _cookie(response, request, SIGNIN_COOKIE, value, SIGNIN_SECONDS)


def signin_csrf_valid(request: Request, submitted: str) -> bool:
    fields = _unsign(request.cookies.get(SIGNIN_COOKIE), 2)
    return fields is not None and _same(submitted, _mac(f"signin:{fields[0]}"))


async def session_principal(
    session: SessionDep, web: WebSession, *, admin_token: str | None
) -> tuple[Principal, str] | None:
    """The key behind a session, if it still holds (not revoked, the same key it was signed in with),
    and the name of its region for the page header."""
    if await session.get(EndedSession, web.nonce) is not None:  # signed out
        return None
    if web.key_id == ADMIN:
        held = admin_token and _same(web.fingerprint, fingerprint(hashlib.sha256(admin_token.encode()).hexdigest()))
        return (Principal(name="admin", role="admin"), "全国") if held else None
    key = await session.get(ApiKey, web.key_id)
    if key is None or key.revoked_at is not None:
        return None
    if not _same(web.fingerprint, fingerprint(key.token_hash)):
        return None
    region = await region_service.get_region(session, key.region_code) if key.region_code else None
    principal = Principal(
        name=key.name, role=key.role, key_id=key.id, region_code=key.region_code,
        region_path=region.path if region else None,
    )  # fmt: skip
    return principal, region.name if region else "全国"


def signin_url(request: Request) -> str:
    """The sign-in form, coming back here afterwards (pages only; a form post returns to the console)."""
    back = request.url.path if request.method == "GET" else "/console"
    if request.method == "GET" and request.url.query:
        back += "?" + request.url.query
    return f"/console/login?next={quote(back, safe='')}"


async def current_principal(request: Request, session: SessionDep, settings: SettingsDep) -> Principal:
    """The signed-in person; SignInRequired (a redirect to the sign-in form) when there is none."""
    web = read_session(request)
    found = await session_principal(session, web, admin_token=settings.admin_token) if web else None
    if web is None or found is None:
        raise SignInRequired("Sign in first.")
    request.state.web = web
    request.state.principal, request.state.region_name = found
    return found[0]


PagePrincipal = Annotated[Principal, Depends(current_principal)]


def can_act(principal: Principal) -> bool:
    """Duty officers and admins issue, answer for, confirm and cancel; auditors read."""
    return principal.role in ("admin", "duty_officer")


async def acting_principal(principal: PagePrincipal) -> Principal:
    if not can_act(principal):
        raise Forbidden(f"这需要值班员或管理员的密钥；您的角色是{ROLE_NAMES.get(principal.role, principal.role)}。")
    return principal


ActingPrincipal = Annotated[Principal, Depends(acting_principal)]


async def checked_form(request: Request, principal: PagePrincipal) -> FormData:
    """The posted form, once its CSRF token matches the session's; 403 otherwise."""
    form = await request.form()
    submitted = form.get("csrf")
    if not isinstance(submitted, str) or not _same(submitted, request.state.web.csrf):
        raise Forbidden("表单已失效（可能已重新登录或页面过旧），请刷新页面后再提交。")
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]
