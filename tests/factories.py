"""Small helpers that make test data through the public API."""

from datetime import timedelta
from itertools import count
from typing import Any

from httpx import AsyncClient

from app.config import get_settings

COUNTY = "650107000000"  # 达坂城区
TOWNSHIP = "650107001000"  # 艾维尔沟街道
VILLAGE = "650107001001"
OTHER_TOWNSHIP = "650107004000"  # 乌拉泊街道
DONGGUAN = "441900000000"  # a prefecture whose townships sit directly under it

_numbers = count(1)


def phone() -> str:
    """A fresh, valid mainland mobile number."""
    return f"+86139{next(_numbers):08d}"


def contact_body(region_code: str = VILLAGE, **fields: Any) -> dict[str, Any]:
    body = {
        "name": "张三",
        "phone": phone(),
        "region_code": region_code,
        "role": "村委会主任",
        "rank": 1,
        "channels": ["sms", "voice"],
    }
    return body | fields


async def create_contact(client: AsyncClient, region_code: str = VILLAGE, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/contacts", json=contact_body(region_code, **fields))
    assert response.status_code == 201, response.text
    return response.json()


async def create_key(client: AsyncClient, role: str, region_code: str | None = None, name: str = "值班员") -> str:
    response = await client.post("/api/v1/keys", json={"name": name, "role": role, "region_code": region_code})
    assert response.status_code == 201, response.text
    return response.json()["token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def csv_body(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


CSV = {"Content-Type": "text/csv"}


async def roster(client: AsyncClient, *, skip: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Two people per village of 达坂城区, one per township and one for the county; phones by region."""
    from tests.conftest import FIXTURES

    lines = (FIXTURES / "regions.csv").read_text(encoding="utf-8").splitlines()[1:]
    rows = ["name,phone,region_code,role,rank,channels"]
    phones: dict[str, list[str]] = {}
    for line in lines:
        code, name, level, _ = line.split(",")
        if not code.startswith("650107") or code in skip:
            continue
        for rank in range(1, 3 if level == "village" else 2):
            number = phone()
            phones.setdefault(code, []).append(number)
            rows.append(f"{name}责任人{rank},{number},{code},责任人,{rank},sms|voice")
    response = await client.post("/api/v1/contacts/import", content=csv_body(*rows), headers=CSV)
    assert response.status_code == 200, response.text
    return phones


def warning_body(**fields: Any) -> dict[str, Any]:
    body = {
        "hazard": "大风",
        "level": "red",
        "title": "达坂城区大风红色预警",
        "instruction": "停止户外作业，人员转移至安全地带",
        "area_codes": [COUNTY],
    }
    return body | fields


async def issue(client: AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/warnings", json=warning_body(**fields))
    assert response.status_code == 201, response.text
    return response.json()


async def send_all() -> int:
    """Run the sender once, as the scheduler's heartbeat would."""
    from app.db import utc_now
    from app.notify.console import ConsoleProvider
    from app.notify.sender import send_due

    return await send_due(ConsoleProvider(), settings=get_settings(), now=utc_now())


async def times_analyzed(table: str) -> int:
    """How often PostgreSQL has gathered planner statistics for a table (ANALYZE)."""
    from sqlalchemy import text

    from app.db import session_scope

    async with session_scope() as session:
        query = text("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = :table")
        return int((await session.execute(query, {"table": table})).scalar_one())


async def outbox(client: AsyncClient, warning_id: str | None = None) -> list[dict[str, Any]]:
    """The console provider's messages (of one warning), oldest first: in the order they were sent."""
    params: dict[str, Any] = {"limit": 1000} | ({"warning_id": warning_id} if warning_id else {})
    items = (await client.get("/api/v1/dev/outbox", params=params)).json()["items"]
    return items[::-1]


async def calls(client: AsyncClient, warning_id: str, **params: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/warnings/{warning_id}/calls", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def token_of(message: dict[str, Any]) -> str:
    return message["ack_url"].rsplit("/", 1)[1]


def claim_args() -> dict[str, Any]:
    """What notify.claim.claim takes besides the time and batch, as the heartbeat passes it: a plan
    of every channel, and the reclaim time, from the process's settings."""
    from app.channels import NAMES
    from app.notify.base import Plan

    settings = get_settings()
    plan = Plan(list(NAMES), signature=settings.sms_signature, public_url=settings.public_url)
    return {"plan": plan, "reclaim_after": timedelta(seconds=settings.send_reclaim_s)}


def process_plan() -> Any:
    """The providers' plan as this process's settings make it (what the routes and the heartbeat
    pass to the lifecycle)."""
    from app.notify import providers

    return providers.plan(get_settings())
