"""The console (值班台): server-rendered pages for duty officers and auditors on the services the API
uses. Sign-in, the home page of open warnings, the assets, and the pages of each sub-domain."""

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import FileResponse, HTMLResponse

from app import throttle
from app.auth import service as auth_service
from app.config import SettingsDep
from app.db import SessionDep, utc_now
from app.errors import Forbidden, NotFound
from app.region import service as region_service
from app.web import board, duty, hazards, issue, live, reports
from app.web import service as web_service
from app.web.render import STATIC, PageRoute, page, see_other
from app.web.session import (
    CheckedForm,
    PagePrincipal,
    end_session,
    set_signin_cookie,
    signin_csrf,
    signin_csrf_valid,
    start_session,
)

router = APIRouter(prefix="/console", route_class=PageRoute, include_in_schema=False)
ASSETS = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8",
          "icon.svg": "image/svg+xml"}  # fmt: skip


def _safe_next(target: str | None) -> str:
    """Only a console path: a sign-in link must not send anyone elsewhere."""
    if target and target.startswith("/console") and not target.startswith("/console//") and "\\" not in target:
        return target
    return "/console"


@router.get("/static/{name}")
async def asset(name: str) -> FileResponse:
    """The console's stylesheet, script and icon, served by the service itself (no CDN)."""
    if name not in ASSETS:
        raise NotFound("没有这个文件。")
    return FileResponse(STATIC / name, media_type=ASSETS[name], headers={"Cache-Control": "public, max-age=3600"})


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    """The sign-in form: the person's API key, exchanged for a session."""
    csrf, cookie = signin_csrf(request)
    response = page(request, "login.html", {"next": _safe_next(next), "signin_csrf": csrf})
    if cookie is not None:
        set_signin_cookie(response, request, cookie)
    return response


FAILED_SIGN_INS_A_MINUTE = 10


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/console",
) -> Response:
    """Exchange an API key for a signed, HttpOnly session cookie."""
    if not signin_csrf_valid(request, csrf):
        raise Forbidden("登录表单已过期，请刷新页面后重新登录。")
    throttle.refuse_if_blocked(f"sign-in:{throttle.address(request)}", "failed sign-ins")
    principal = await auth_service.authenticate(session, token.strip(), admin_token=settings.admin_token)
    if principal is None:
        await throttle.count_failure(
            request, session, f"sign-in:{throttle.address(request)}", limit=FAILED_SIGN_INS_A_MINUTE,
            what="failed sign-ins",
        )  # fmt: skip
        context = {"next": _safe_next(next), "signin_csrf": csrf, "error": "密钥无效或已被吊销，请核对后重试。"}
        return page(request, "login.html", context, status_code=401)
    response = see_other(_safe_next(next))
    start_session(response, request, principal, token.strip())
    return response


@router.post("/logout")
async def logout(request: Request, session: SessionDep, _: CheckedForm) -> Response:
    """Sign out: the session ends at once (a copy of its cookie no longer signs anyone in)."""
    response = see_other("/console/login")
    await end_session(session, response, request.state.web)
    return response


@router.get("", response_class=HTMLResponse)
async def home(request: Request, session: SessionDep, principal: PagePrincipal, settings: SettingsDep) -> HTMLResponse:
    """Open warnings at a glance (level, age, regions reached of those targeted), and the latest
    closed; who is on duty and the roster's gaps of the next day; a banner when a channel is down
    or not configured."""
    open_ones, closed = await web_service.warnings_at_a_glance(session, principal)
    region = await region_service.get_region(session, principal.region_code) if principal.region_code else None
    now = utc_now()
    context = {"open": open_ones, "closed": closed, "region": region, "now": now,
               "channel_alerts": await web_service.channel_alerts(settings),
               "duty": await duty.at_a_glance(session, principal, now)}  # fmt: skip
    return page(request, "home.html", context)


for sub in (issue.router, live.router, board.router, reports.router, duty.router, hazards.router):
    router.include_router(sub)


@router.api_route("/{rest:path}", methods=["GET", "POST"], include_in_schema=False)
async def not_found(rest: str, _: PagePrincipal) -> Response:
    """Any other console address: a page saying so (or the console itself, for /console/)."""
    if not rest:
        return see_other("/console")
    raise NotFound("这个页面不存在，请从首页进入。")
