"""What every page behind a link shares (the warning's, a hazard report's, the report form):
level colours and headings, how a warning closed, the time as shown, and the response headers of
a page that runs no script."""

from datetime import datetime

from app.i18n import N_
from app.times import BEIJING

COLOURS = {"red": "#c5221f", "orange": "#e8710a", "yellow": "#f9ab00", "blue": "#1a73e8"}
LEVEL_HEADINGS = {"red": N_("红色预警"), "orange": N_("橙色预警"), "yellow": N_("黄色预警"), "blue": N_("蓝色预警")}
CLOSED_NOTES = {
    "superseded": N_("此预警已更新，请以最新预警为准。"),
    "lifted": N_("此预警已解除。"),
    "expired": N_("此预警已过有效期，已解除。"),
    "withdrawn": N_("此预警系误发，已撤回。"),
}


def beijing(moment: datetime | None) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M 北京时间") if moment else ""


# The link page is one request on a cheap phone: its styles are inline, and it runs no script at all.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
}
