"""Verification finds any edit or deletion in the record; the events list filters, pages and masks."""

from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import delete, func, select, update

from app.audit import anchors
from app.audit.service import GENESIS_HASH, Event, canonical, chain_hash
from app.db import session_scope, utc_now
from app.models.audit import AuditEvent, ChainHead
from tests.conftest import ANCHOR_FILE
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
    result = await verify(client)
    assert result | {"warning": None} == {"ok": True, "checked": total, "first_bad_seq": None,
                                          "anchors_checked": 0, "warning": None}  # fmt: skip
    # Nothing was published outside the database to match the chains against: said, not hidden.
    assert "recomputed wholesale would pass" in result["warning"]


async def test_an_edited_event_is_named(client: AsyncClient, regions: None) -> None:
    warning = await a_record(client)
    chain = await seqs(f"warning:{warning['id']}")
    target = chain[2]
    async with session_scope() as session:
        await session.execute(update(AuditEvent).where(AuditEvent.seq == target).values(actor="someone else"))
    result = await verify(client)
    assert result["ok"] is False and result["first_bad_seq"] == target
    assert (result["checked"], result["anchors_checked"]) == (len(await all_seqs()), 0)


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


async def publish() -> int:
    async with session_scope(read_only=True) as session:
        return await PUBLISHER.publish(session, now=utc_now())


PUBLISHER = anchors.Publisher(ANCHOR_FILE)


async def recompute(chain: str) -> None:
    """What someone with write access to the database could do: rehash a chain after an edit."""
    async with session_scope() as session:
        events = list(
            await session.scalars(select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.seq))
        )
        prev = GENESIS_HASH
        for event in events:
            content = Event(type=event.type, actor=event.actor, data=event.data, warning_id=event.warning_id,
                            call_id=event.call_id, region_code=event.region_code,
                            request_id=event.request_id)  # fmt: skip
            event.prev_hash, event.hash = prev, chain_hash(prev, canonical(chain, event.at, content))
            prev = event.hash
        head = await session.get(ChainHead, chain)
        assert head is not None
        head.hash, head.length = prev, len(events)


async def test_a_chain_recomputed_wholesale_is_caught_by_its_published_head(client: AsyncClient, regions: None) -> None:
    PUBLISHER.published.clear()
    warning = await a_record(client)
    assert await publish() == 2  # the registry's chain and the warning's
    assert await publish() == 0  # nothing moved since
    assert (await verify(client))["anchors_checked"] == 2
    chain = f"warning:{warning['id']}"
    seqs_before = await seqs(chain)
    async with session_scope() as session:
        await session.execute(update(AuditEvent).where(AuditEvent.seq == seqs_before[2]).values(actor="someone else"))
    await recompute(chain)
    caught = await verify(client)
    # Published once, at its end: nothing of the chain is vouched for, so from its first event.
    assert caught["ok"] is False and caught["first_bad_seq"] == seqs_before[0] and caught["warning"] is None
    ANCHOR_FILE.rename(ANCHOR_FILE.with_suffix(".gone"))
    blind = await verify(client)
    assert blind["ok"] is True and blind["anchors_checked"] == 0  # without what was published, the rewrite passes
    assert "recomputed wholesale would pass" in blind["warning"]


async def test_a_recomputed_chain_is_named_from_the_last_published_head_it_still_matches(
    client: AsyncClient, regions: None, caplog: pytest.LogCaptureFixture
) -> None:
    PUBLISHER.published.clear()
    warning = await a_record(client)
    await publish()
    chain = f"warning:{warning['id']}"
    vouched = await seqs(chain)  # published: the chain up to here
    await client.post(f"/api/v1/warnings/{warning['id']}/cancel", json={"kind": "lifted", "reason": "风力减弱"})
    await publish()
    after = (await seqs(chain))[len(vouched) :]
    assert len(after) >= 2
    async with session_scope() as session:  # an event after the first publication, edited, and all rehashed
        await session.execute(update(AuditEvent).where(AuditEvent.seq == after[1]).values(actor="someone else"))
    await recompute(chain)
    caught = await verify(client)
    # The edit lies after the head published first (which still matches), at or before the second.
    assert caught["ok"] is False and caught["first_bad_seq"] == after[0]
    ANCHOR_FILE.rename(ANCHOR_FILE.with_suffix(".gone"))
    with caplog.at_level("WARNING", logger="app.audit.router"):
        await verify(client)
    assert "recomputed wholesale would pass" in caplog.text


async def test_a_tail_deleted_and_rehashed_falls_short_of_its_published_head(
    client: AsyncClient, regions: None
) -> None:
    PUBLISHER.published.clear()
    warning = await a_record(client)
    await publish()
    chain = f"warning:{warning['id']}"
    seqs_before = await seqs(chain)
    async with session_scope() as session:
        await session.execute(delete(AuditEvent).where(AuditEvent.seq == seqs_before[-1]))
    await recompute(chain)
    caught = await verify(client)
    # Short of its only published head, and rehashed: nothing of the chain is vouched for.
    assert caught["ok"] is False and caught["first_bad_seq"] == seqs_before[0]


async def test_heads_that_moved_are_published_again_and_the_latest_counts(client: AsyncClient, regions: None) -> None:
    PUBLISHER.published.clear()
    warning = await a_record(client)
    await publish()
    await client.post(f"/api/v1/warnings/{warning['id']}/cancel", json={"kind": "lifted", "reason": "风力减弱"})
    assert await publish() == 1
    lines = ANCHOR_FILE.read_text().splitlines()
    assert len(lines) == 2
    latest = anchors.published_heads(ANCHOR_FILE)
    assert max(latest[f"warning:{warning['id']}"]) == len(await seqs(f"warning:{warning['id']}"))
    with ANCHOR_FILE.open("a") as handle:
        handle.write('{"at": "cut short by a cra')  # a crash mid-write leaves a partial line
    assert anchors.published_heads(ANCHOR_FILE) == latest
    assert (await verify(client))["ok"] is True


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
    # A subtree as a key scoped to it would read it: events naming a region in it, and those about its calls.
    assert here.json()["items"] and {e["region_code"] for e in here.json()["items"]} - {None} == {"650107001001"}
    officer = await create_key(client, "duty_officer", region_code="650107")
    assert (await anonymous.get("/api/v1/audit/events", headers=bearer(officer))).status_code == 403
    assert (await anonymous.get("/api/v1/audit/verify")).status_code == 401
    bad_cursor = await client.get("/api/v1/audit/events", params={"cursor": "x"})
    assert bad_cursor.status_code == 422


async def test_a_head_published_again_with_another_hash_does_not_mask_the_first(
    client: AsyncClient, regions: None
) -> None:
    PUBLISHER.published.clear()
    warning = await a_record(client)
    await publish()
    chain = f"warning:{warning['id']}"
    first = await seqs(chain)
    async with session_scope() as session:
        await session.execute(update(AuditEvent).where(AuditEvent.seq == first[1]).values(actor="someone else"))
    await recompute(chain)
    async with session_scope() as session:  # the rewritten head looks freshly moved: it is published again
        await session.execute(update(ChainHead).where(ChainHead.chain == chain).values(updated_at=utc_now()))
    PUBLISHER.published.clear()
    await publish()
    assert len({line for line in ANCHOR_FILE.read_text().splitlines()}) == 2
    caught = await verify(client)
    assert caught["ok"] is False and caught["first_bad_seq"] == first[0]
