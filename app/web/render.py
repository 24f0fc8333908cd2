"""Rendering console pages: the templates with their filters, security headers, and HTML error pages."""

from collections.abc import Callable, Coroutine
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from app.db import utc_now
from app.errors import AppError
from app.models.warning import OPEN_STATUSES as OPEN_WARNING
from app.notify.templates import LEVEL_NAMES
from app.pages import COLOURS
from app.times import BEIJING
from app.web.session import ROLE_NAMES, SignInRequired, can_act, signin_url

STATIC = Path(__file__).parent / "static"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

STATUS_NAMES = {"expanding": "展开中", "active": "生效中", "expired": "已过期", "superseded": "已更新"}
CLOSE_NAMES = {"lifted": "已解除", "withdrawn": "已撤回", "test": "测试完毕（未发送）"}
MODE_NAMES = {"actual": "", "exercise": "演练", "test": "测试"}
CALL_STATUS = {"pending": "待发", "notified": "已通知", "acknowledged": "已应答", "unanswered": "超时未应答",
               "cancelled": "已取消"}  # fmt: skip
ACK_METHODS = {"link": "链接", "sms_reply": "短信回复", "voice_key": "语音按键", "manual": "人工登记",
               "confirmed": "人工确认"}  # fmt: skip
MANUAL_METHODS = {"phone": "电话", "in_person": "当面", "radio": "电台", "other": "其他"}
STATE_NAMES = {"reached": "已叫应", "waiting": "等待应答", "escalated": "已上报上级", "uncovered": "无责任人",
               "unreachable": "无法叫应"}  # fmt: skip
# The same states after the fact, in a report: a region still waiting when its warning ended was never reached.
UNREACHED_NAMES = {
    "waiting": "未叫应",
    "escalated": "上报后仍未叫应",
    "uncovered": "无责任人",
    "unreachable": "无法叫应",
}
STAGE_NAMES = {"initial": "首报", "follow_up": "续报", "final": "终报"}
LEVEL_LABELS = {"province": "省", "prefecture": "市", "county": "县", "township": "乡镇", "village": "村"}
ERROR_TITLES = {400: "请求有误", 401: "请先登录", 403: "无权操作", 404: "未找到", 409: "操作冲突", 410: "已关闭",
                413: "内容过大", 422: "输入有误", 503: "服务暂不可用"}  # fmt: skip
# Everything a page loads comes from this service: offices run on intranets.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def beijing(moment: datetime | None, seconds: bool = False) -> str:
    """A time as duty officers read it (北京时间; the pages say so once)."""
    if moment is None:
        return ""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def age(moment: datetime | None, now: datetime | None = None) -> str:
    """How long ago, in words: 刚刚, 12分钟前, 3小时5分钟前, 2天前."""
    if moment is None:
        return ""
    minutes = int(((now or utc_now()) - moment).total_seconds() // 60)
    if minutes < 1:
        return "刚刚"
    if minutes < 60:
        return f"{minutes}分钟前"
    if minutes < 24 * 60:
        return f"{minutes // 60}小时{minutes % 60}分钟前" if minutes % 60 else f"{minutes // 60}小时前"
    return f"{minutes // (24 * 60)}天前"


def duration(seconds: float | None) -> str:
    """Seconds as a person says them: 45秒, 10分钟, 2.5小时."""
    if seconds is None:
        return "—"
    for unit, name in ((3600, "小时"), (60, "分钟")):
        if seconds >= unit:
            amount = seconds / unit
            return f"{amount:.0f}{name}" if abs(amount - round(amount)) < 0.05 else f"{amount:.1f}{name}"
    return f"{seconds:.0f}秒" if seconds >= 1 else "不到1秒"


def percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.1f}%"


def status_name(status: str, close_kind: str | None = None) -> str:
    if status == "cancelled":
        return CLOSE_NAMES.get(close_kind or "", "已解除")
    return STATUS_NAMES.get(status, status)


templates.env.filters.update(bj=beijing, age=age, duration=duration, percent=percent)
templates.env.globals.update(
    LEVEL_NAMES=LEVEL_NAMES, COLOURS=COLOURS, MODE_NAMES=MODE_NAMES, CALL_STATUS=CALL_STATUS, ACK_METHODS=ACK_METHODS,
    MANUAL_METHODS=MANUAL_METHODS, LEVEL_LABELS=LEVEL_LABELS, ROLE_NAMES=ROLE_NAMES, status_name=status_name,
    STATE_NAMES=STATE_NAMES, STAGE_NAMES=STAGE_NAMES, UNREACHED_NAMES=UNREACHED_NAMES, OPEN_WARNING=OPEN_WARNING,
)  # fmt: skip


def page(request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200) -> HTMLResponse:
    """A console page: the signed-in person, the form token and the navigation come with every one."""
    principal = getattr(request.state, "principal", None)
    web = getattr(request.state, "web", None)
    full = {
        "principal": principal,
        "can_act": principal is not None and can_act(principal),
        "csrf": web.csrf if web is not None else "",
        "region_name": getattr(request.state, "region_name", ""),
        "path": request.url.path,
        **(context or {}),
    }
    response = templates.TemplateResponse(request, name, full, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


def error_page(request: Request, status: int, detail: str) -> HTMLResponse:
    title = ERROR_TITLES.get(status) or HTTPStatus(status).phrase
    return page(request, "error.html", {"title": title, "detail": detail, "status": status}, status_code=status)


def see_other(url: str) -> RedirectResponse:
    """The answer to a form post: go and GET the page that shows the result."""
    return RedirectResponse(url, status_code=303)


class PageRoute(APIRoute):
    """Console routes answer errors with a page a person can read (or the sign-in form), not problem+json."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                return see_other(signin_url(request))
            except AppError as error:
                return error_page(request, error.status, error.detail)
            except RequestValidationError as error:
                fields = "、".join(str(e.get("loc", ("",))[-1]) for e in error.errors())
                return error_page(request, 422, f"请求参数有误：{fields}。请返回上一页检查后重试。")

        return handle
