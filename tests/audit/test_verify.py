"""Verification finds any edit or deletion in the record; the events list filters, pages and masks."""

from typing import Any

from httpx import AsyncClient
from sqlalchemy import delete, func, select, update

from app.audit.models import AuditEvent
from app.db import session_scope
from tests.factories import VILLAGE, bearer, calls, create_contact, create_key, issue, send_all


async def a_record(client: AsyncClient) -> dict[str, Any]:
    """A warning sent and answered once, on top of the registry's own events."""
    await create_contact(client)
    await create_contact(client)
    warning = await issue(client, area_codes=[VILLAGE])
    await send_all()
    first = (await calls(client, warning["id"]))[0]
    await client.post(f"/api/v1/calls/{first['id']}/ack", json={"method": "phone", "note": "电话联系上"})
    return warning


async def verify(client: AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/v1/audit/verify")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def seqs(chain: str) -> list[int]:
    async with session_scope() as session:
        query = select(AuditEvent.seq).where(AuditEvent.chain == chain).order_by(AuditEvent.seq)
        return list(await session.scalars(query))


async def test_an_untouched_record_verifies(client: AsyncClient, regions: None) -> None:
    await a_record(client)
    async with session_scope() as session:
        total = await session.scalar(select(func.count()).select_from(AuditEvent))
    assert await verify(client) == {"ok": True, "checked": total, "first_bad_seq": None}


async def test_an_edited_event_is_named(client: AsyncClient, regions: None) -> None:
    warning = await a_record(client)
    chain = await seqs(f"warning:{warning['id']}")
    target = chain[2]
    async with session_scope() as session:
        await session.execute(update(AuditEvent).where(AuditEvent.seq == target).values(actor="someone else"))
    assert await verify(client) == {"ok": False, "checked": len(await all_seqs()), "first_bad_seq": target}


async def test_a_deleted_event_breaks_the_chain_at_the_next(client: AsyncClient, regions: None) -> None:
    warning = await a_record(client)
    chain = await seqs(f"warning:{warning['id']}")
    async with session_scope() as session:
        await session.execute(delete(AuditEvent).where(AuditEvent.seq == chain[1]))
    assert (await verify(client))["first_bad_seq"] == chain[2]


async def test_a_deleted_tail_is_caught_by_the_chain_head(client: AsyncClient, regions: None) -> None:
    warning = await a_record(client)
    chain = await seqs(f"warning:{warning['id']}")
    async with session_scope() as session:
        await session.execute(delete(AuditEvent).where(AuditEvent.seq == chain[-1]))
    result = await verify(client)
    assert result["ok"] is False and result["first_bad_seq"] == chain[-2]


async def test_a_wholly_deleted_chain_is_caught(client: AsyncClient, regions: None) -> None:
    warning = await a_record(client)
    async with session_scope() as session:
        await session.execute(delete(AuditEvent).where(AuditEvent.chain == f"warning:{warning['id']}"))
    result = await verify(client)
    assert result["ok"] is False and result["first_bad_seq"] == 0


async def all_seqs() -> list[int]:
    async with session_scope() as session:
        return list(await session.scalars(select(AuditEvent.seq)))


async def test_events_filter_page_and_mask(client: AsyncClient, anonymous: AsyncClient, regions: None) -> None:
    warning = await a_record(client)
    auditor = await create_key(client, "auditor", name="督查员")
    listed = await anonymous.get(
        "/api/v1/audit/events", params={"warning_id": warning["id"], "limit": 2}, headers=bearer(auditor)
    )
    assert listed.status_code == 200
    page = listed.json()
    assert [e["type"] for e in page["items"]] == ["warning.issued", "call.created"] and page["next_cursor"]
    rest = await anonymous.get(
        "/api/v1/audit/events",
        params={"warning_id": warning["id"], "cursor": page["next_cursor"], "limit": 1000},
        headers=bearer(auditor),
    )
    items = page["items"] + rest.json()["items"]
    assert [e["seq"] for e in items] == sorted(e["seq"] for e in items)
    created = [e for e in items if e["type"] == "call.created"]
    assert created and all("****" in e["data"]["phone"] for e in created)
    only = await client.get("/api/v1/audit/events", params={"type": "call.acknowledged"})
    assert [e["type"] for e in only.json()["items"]] == ["call.acknowledged"]
    here = await client.get("/api/v1/audit/events", params={"region_code": VILLAGE, "limit": 1000})
    assert here.json()["items"] and {e["region_code"] for e in here.json()["items"]} == {"650107001001"}
    officer = await create_key(client, "duty_officer", region_code="650107")
    assert (await anonymous.get("/api/v1/audit/events", headers=bearer(officer))).status_code == 403
    assert (await anonymous.get("/api/v1/audit/verify")).status_code == 401
    bad_cursor = await client.get("/api/v1/audit/events", params={"cursor": "x"})
    assert bad_cursor.status_code == 422
