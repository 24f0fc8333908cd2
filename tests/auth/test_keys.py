"""API keys: issued once, stored hashed, revoked at once; roles and region scope enforced."""

from httpx import AsyncClient
from sqlalchemy import select

from app.db import session_scope
from app.models.auth import ApiKey
from tests.factories import TOWNSHIP, bearer, create_key


async def test_key_token_is_shown_once_and_stored_hashed(client: AsyncClient, regions: None) -> None:
    response = await client.post(
        "/api/v1/keys", json={"name": "李值班", "role": "duty_officer", "region_code": "650107"}
    )
    assert response.status_code == 201
    key = response.json()
    assert key["region_code"] == "650107000000" and key["token"].startswith("jy_")
    async with session_scope() as session:
        stored = await session.scalar(select(ApiKey).where(ApiKey.id == key["id"]))
    assert stored is not None and key["token"] not in stored.token_hash
    listed = (await client.get("/api/v1/keys")).json()["items"]
    assert [k["id"] for k in listed] == [key["id"]] and "token" not in listed[0]


async def test_new_key_works_and_revoked_key_is_401(client: AsyncClient, anonymous: AsyncClient, regions: None) -> None:
    token = await create_key(client, "auditor")
    assert (await anonymous.get("/api/v1/regions/650107", headers=bearer(token))).status_code == 200
    key_id = (await client.get("/api/v1/keys")).json()["items"][0]["id"]
    assert (await client.delete(f"/api/v1/keys/{key_id}")).json()["revoked_at"]
    response = await anonymous.get("/api/v1/regions/650107", headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_missing_or_unknown_token_is_401(anonymous: AsyncClient) -> None:
    assert (await anonymous.get("/api/v1/contacts")).status_code == 401
    assert (await anonymous.get("/api/v1/contacts", headers=bearer("jy_nonsense"))).status_code == 401
    assert (await anonymous.get("/api/v1/contacts", headers={"Authorization": "Basic eDp5"})).status_code == 401


async def test_only_admins_manage_keys(client: AsyncClient, anonymous: AsyncClient, regions: None) -> None:
    token = await create_key(client, "duty_officer", TOWNSHIP)
    response = await anonymous.post("/api/v1/keys", json={"name": "x", "role": "admin"}, headers=bearer(token))
    assert response.status_code == 403
    assert (await anonymous.get("/api/v1/keys", headers=bearer(token))).status_code == 403


async def test_bad_key_requests_are_422_or_404(client: AsyncClient, regions: None) -> None:
    assert (await client.post("/api/v1/keys", json={"name": "x", "role": "superuser"})).status_code == 422
    unknown = await client.post("/api/v1/keys", json={"name": "x", "role": "auditor", "region_code": "659999"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == [{"loc": ["body", "region_code"], "msg": "unknown region 659999000000"}]
    admin = await client.post("/api/v1/keys", json={"name": "x", "role": "admin", "region_code": "650107"})
    assert admin.status_code == 422
    assert (await client.delete("/api/v1/keys/unknown")).status_code == 404
    assert (await client.get("/api/v1/keys")).json()["items"] == []


async def test_key_changes_are_audited_with_the_actor(client: AsyncClient, regions: None) -> None:
    from app.models.audit import AuditEvent

    await create_key(client, "auditor", name="督查甲")
    async with session_scope() as session:
        event = await session.scalar(select(AuditEvent).where(AuditEvent.type == "key.changed"))
    assert event is not None and event.actor == "admin" and event.data["name"] == "督查甲"
    assert "token" not in str(event.data)
