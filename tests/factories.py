"""Small helpers that make test data through the public API."""

from itertools import count
from typing import Any

from httpx import AsyncClient

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
