"""A very large fan-out in steps: 202 and `expanding` at once, then the heartbeat's slices store the
same regions and calls a single transaction would, one call per phone across slices, resuming
after a crash, stopping when the warning is cancelled."""

from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select

from app.call.models import Call
from app.db import session_scope, utc_now
from app.warning import expansion
from tests.cap.documents import fixture, post_cap
from tests.conftest import requires_postgres
from tests.factories import VILLAGE, calls, create_contact, roster, send_all, times_analyzed, warning_body

OTHER_VILLAGE = "650107004001"


@pytest.fixture
def small_slices(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Slices of a few rows, and a threshold of five people, so the test county takes many steps."""
    monkeypatch.setattr(expansion, "REGION_SLICE", 7)
    monkeypatch.setattr(expansion, "PEOPLE_SLICE", 9)
    monkeypatch.setattr(app.state.settings, "async_fanout_above", 5)


async def run_steps(warning_id: str, limit: int = 1000) -> int:
    """Run the heartbeat's slices until the warning is done (or `limit` slices); how many ran."""
    for done in range(limit):
        async with session_scope() as session:
            if not await expansion.step(session, warning_id, now=utc_now()):
                return done
    return limit


async def a_roster_with_a_shared_phone(client: AsyncClient) -> None:
    await roster(client)
    shared = (await client.get("/api/v1/contacts", params={"region_code": VILLAGE})).json()["items"][0]["phone"]
    await create_contact(client, OTHER_VILLAGE, phone=shared, name="两村兼任")


async def test_a_large_warning_answers_202_and_is_stored_in_steps(
    app: Any, client: AsyncClient, regions: None, small_slices: None
) -> None:
    await a_roster_with_a_shared_phone(client)
    response = await client.post("/api/v1/warnings", json=warning_body())
    assert response.status_code == 202, response.text
    warning = response.json()
    assert warning["status"] == "expanding" and warning["calls"]["total"] == 0
    assert await run_steps(warning["id"], limit=1) == 1
    assert await run_steps(warning["id"]) > 3
    done = (await client.get(f"/api/v1/warnings/{warning['id']}")).json()
    assert done["status"] == "active"

    # The same body the ordinary way, for comparison: the same people, regions and holes.
    app.state.settings.async_fanout_above = 10**9  # (the fixture puts it back)
    whole = (await client.post("/api/v1/warnings", json=warning_body(title="一次写完"))).json()
    assert whole["status"] == "active"
    assert done["calls"]["total"] == whole["calls"]["total"]
    assert done["targeted_regions"] == whole["targeted_regions"]
    assert sorted(done["uncovered_area_codes"]) == sorted(whole["uncovered_area_codes"])
    made = await calls(client, warning["id"])
    phones = [call["contact"]["phone"] for call in made]
    assert len(phones) == len(set(phones))  # one call per phone, across slices
    shared = next(call for call in made if len(call["region_codes"]) == 2)
    assert sorted(shared["region_codes"]) == sorted([VILLAGE, OTHER_VILLAGE])
    events = (await client.get(f"/api/v1/warnings/{warning['id']}/timeline", params={"limit": 1000})).json()
    types = [event["type"] for event in events["items"]]
    assert types[0] == "warning.issued" and types.count("warning.expanded") == 1
    assert types.count("call.created") == len(made)
    assert (await client.get("/api/v1/audit/verify")).json()["ok"] is True


async def test_calls_go_out_while_the_rest_is_written(client: AsyncClient, regions: None, small_slices: None) -> None:
    await roster(client)
    warning = (await client.post("/api/v1/warnings", json=warning_body())).json()
    await run_steps(warning["id"], limit=10)  # the regions, then the first people
    state = (await client.get(f"/api/v1/warnings/{warning['id']}")).json()
    assert state["status"] == "expanding" and state["calls"]["total"] > 0
    first = await send_all()
    assert first > 0
    steps = await run_steps(warning["id"])
    assert steps > 0, state
    assert await send_all() > 0, (first, steps, state["calls"])


async def test_a_crash_inside_a_step_loses_and_repeats_nothing(
    client: AsyncClient, regions: None, small_slices: None
) -> None:
    await roster(client)
    warning = (await client.post("/api/v1/warnings", json=warning_body())).json()
    await run_steps(warning["id"], limit=9)
    with pytest.raises(RuntimeError):
        async with session_scope() as session:
            await expansion.step(session, warning["id"], now=utc_now())
            raise RuntimeError("the process died before the commit")
    await run_steps(warning["id"])
    async with session_scope() as session:
        stored = await session.scalar(select(func.count()).select_from(Call).where(Call.warning_id == warning["id"]))
        distinct = await session.scalar(
            select(func.count(func.distinct(Call.contact_phone))).where(Call.warning_id == warning["id"])
        )
    assert stored == distinct == (await client.get(f"/api/v1/warnings/{warning['id']}")).json()["calls"]["total"]


async def test_a_cancelled_expansion_stops(client: AsyncClient, regions: None, small_slices: None) -> None:
    await roster(client)
    warning = (await client.post("/api/v1/warnings", json=warning_body())).json()
    await run_steps(warning["id"], limit=9)
    cancelled = await client.post(
        f"/api/v1/warnings/{warning['id']}/cancel", json={"reason": "误发", "kind": "withdrawn"}
    )
    assert cancelled.status_code == 200, cancelled.text
    before = cancelled.json()["calls"]["total"]
    assert await run_steps(warning["id"]) == 0
    after = (await client.get(f"/api/v1/warnings/{warning['id']}")).json()
    assert after["status"] == "cancelled" and after["calls"]["total"] == before
    assert set(after["calls"]["by_status"]) <= {"cancelled"}


async def test_a_large_cap_alert_is_expanded_in_steps_too(
    client: AsyncClient, regions: None, small_slices: None
) -> None:
    await roster(client)
    response = await post_cap(client, fixture("dabancheng_rainstorm_alert.xml"))
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "expanding"
    await run_steps(response.json()["id"])
    assert (await client.get(f"/api/v1/warnings/{response.json()['id']}")).json()["status"] == "active"


@requires_postgres
async def test_the_first_slice_of_people_leaves_statistics_for_the_planner(
    client: AsyncClient, regions: None, small_slices: None
) -> None:
    """A calls table last analyzed when nearly empty would have the sender's and the heartbeat's
    lookups planned as if it still were, for the whole of a nationwide warning."""
    await roster(client)
    warning = (await client.post("/api/v1/warnings", json=warning_body())).json()
    before = await times_analyzed("calls")
    while (await client.get(f"/api/v1/warnings/{warning['id']}")).json()["calls"]["total"] == 0:
        assert await run_steps(warning["id"], limit=1) == 1
    assert await times_analyzed("calls") == before + 1
    await run_steps(warning["id"])  # later slices leave it to autovacuum
    assert await times_analyzed("calls") == before + 1
