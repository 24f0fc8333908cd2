"""CAP 1.2 documents for the tests: the committed fixtures (templates for their times), and a small
builder for the variations (status, languages, where the level is stated, areas)."""

from datetime import datetime, timedelta
from itertools import count
from string import Template
from typing import Any
from xml.sax.saxutils import escape

from httpx import AsyncClient, Response

from app.cap.identity import cap_time
from app.db import utc_now
from app.times import BEIJING
from tests.conftest import FIXTURES

CAP_FIXTURES = FIXTURES / "cap"
SENDER = "Dabancheng_District_Meteorological_Observatory"
CODE = "65010741600000"
CAP_XML = {"Content-Type": "application/cap+xml"}
SAMPLES = sorted(
    path.name for path in CAP_FIXTURES.glob("*.xml") if not path.name.startswith("dabancheng_")
)  # verbatim from ../shared/cap-samples (PROVENANCE.md)
_seconds = count(1)


def moment() -> datetime:
    """A fresh sent time (one second apart per call), so identifiers in the GB/T style never repeat."""
    return (utc_now() + timedelta(seconds=next(_seconds))).replace(microsecond=0)


def identifier(sent: datetime) -> str:
    return f"{CODE}_{sent.astimezone(BEIJING):%Y%m%d%H%M%S}"


def reference(sent: datetime, sender: str = SENDER) -> str:
    return f"{sender},{identifier(sent)},{cap_time(sent)}"


def fixture(name: str, *, sent: datetime | None = None, **values: Any) -> bytes:
    """A committed fixture with its times filled in (sent now, onset soon, expiry in six hours)."""
    sent = sent or moment()
    now = utc_now()
    defaults = {
        "stamp": f"{sent.astimezone(BEIJING):%Y%m%d%H%M%S}",
        "sent": cap_time(sent),
        "onset": cap_time(now + timedelta(hours=1)),
        "expires": cap_time(now + timedelta(hours=6)),
    }
    text = Template((CAP_FIXTURES / name).read_text(encoding="utf-8"))
    return text.substitute(defaults | values).encode()


def area(desc: str, *geocodes: tuple[str, str], polygon: str | None = None) -> str:
    codes = "".join(
        f"<geocode><valueName>{escape(n)}</valueName><value>{escape(v)}</value></geocode>" for n, v in geocodes
    )
    shape = f"<polygon>{polygon}</polygon>" if polygon else ""
    return f"<area><areaDesc>{escape(desc)}</areaDesc>{shape}{codes}</area>"


def cpeas(code: str, desc: str = "达坂城区") -> str:
    return area(desc, ("CPEAS Geographic Code", code))


def info(
    *,
    language: str = "zh-CN",
    event: str = "暴雨",
    severity: str = "Severe",
    headline: str | None = "达坂城区暴雨预警",
    parameters: tuple[tuple[str, str], ...] = (("预警级别", "橙色"),),
    areas: tuple[str, ...] = (),
    onset: datetime | None = None,
    expires: datetime | None = None,
    description: str | None = "预计未来6小时内有大到暴雨。",
    instruction: str | None = "转移低洼地带人员。",
) -> str:
    parts = [
        f"<language>{language}</language>",
        "<category>Met</category>",
        f"<event>{escape(event)}</event>",
        "<urgency>Expected</urgency>",
        f"<severity>{severity}</severity>",
        "<certainty>Likely</certainty>",
    ]
    parts += [f"<onset>{cap_time(onset)}</onset>"] if onset else []
    expires = expires or utc_now() + timedelta(hours=6)
    parts.append(f"<expires>{cap_time(expires)}</expires>")
    parts += [f"<headline>{escape(headline)}</headline>"] if headline else []
    parts += [f"<description>{escape(description)}</description>"] if description else []
    parts += [f"<instruction>{escape(instruction)}</instruction>"] if instruction else []
    parts += [f"<parameter><valueName>{n}</valueName><value>{escape(v)}</value></parameter>" for n, v in parameters]
    parts += list(areas or (cpeas("650107"),))
    return "<info>" + "".join(parts) + "</info>"


def alert(
    *infos: str,
    sent: datetime | None = None,
    sender: str = SENDER,
    status: str = "Actual",
    msg_type: str = "Alert",
    references: str | None = None,
    note: str | None = None,
) -> bytes:
    """A CAP 1.2 alert; one default info block (暴雨, 橙色, 达坂城区) unless others are given."""
    sent = sent or moment()
    head = (
        f"<identifier>{identifier(sent)}</identifier><sender>{sender}</sender><sent>{cap_time(sent)}</sent>"
        f"<status>{status}</status><msgType>{msg_type}</msgType><scope>Public</scope>"
    )
    head += f"<note>{escape(note)}</note>" if note else ""
    head += f"<references>{references}</references>" if references else ""
    body = "".join(infos) if infos or msg_type == "Cancel" else info()
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">{head}{body}</alert>'
    ).encode()


async def post_cap(client: AsyncClient, body: bytes, headers: dict[str, str] | None = None) -> Response:
    return await client.post("/api/v1/warnings/cap", content=body, headers=CAP_XML | (headers or {}))
