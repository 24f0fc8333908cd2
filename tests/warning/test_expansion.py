"""A very large fan-out in steps: 202 and `expanding` at once, then the heartbeat's slices store the
same regions and calls a single transaction would, one call per phone across slices, resuming
after a crash, stopping when the warning is cancelled."""

import hashlib
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select

from app.db import session_scope, utc_now
from app.models.call import Call
from app.notify.console import ConsoleProvider
from app.notify.dispatch import Dispatcher
from app.scheduler import Heartbeat
from app.warning import expansion
from tests.cap.documents import alert, cpeas, fixture, info, moment, post_cap, reference
from tests.cap.feedserver import FeedServer, atom
from tests.conftest import ADMIN_TOKEN, requires_postgres
from tests.factories import (
    COUNTY,
    VILLAGE,
    calls,
    create_contact,
    issue,
    outbox,
    roster,
    send_all,
    times_analyzed,
    warning_body,
)
from tests.web.pages import csrf_of, sign_in

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


# Every way a warning is issued, each honouring JIAOYING_ASYNC_FANOUT_ABOVE: the API, the console's
# form, CAP posted and CAP polled from a feed, each as a new warning and as an update of one
# issued below the threshold (a village of two people). Each returns the new warning's id.
Path = Callable[[AsyncClient, AsyncClient, FeedServer, Any], Awaitable[str]]
SMALL = VILLAGE  # two people on the roster: issued whole
LARGE = COUNTY  # above the five people of `small_slices`: expanded in steps


async def _api_issue(client: AsyncClient, *_: Any) -> str:
    response = await client.post("/api/v1/warnings", json=warning_body(area_codes=[LARGE]))
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def _api_update(client: AsyncClient, *_: Any) -> str:
    old = await issue(client, area_codes=[SMALL])
    assert old["status"] == "active"
    await send_all()
    response = await client.post(f"/api/v1/warnings/{old['id']}/update", json=warning_body(area_codes=[LARGE]))
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def _console(client: AsyncClient, anonymous: AsyncClient, path: str) -> str:
    await sign_in(anonymous, ADMIN_TOKEN)
    page = await anonymous.get(path)
    key = re.search(r'name="request_key" value="([^"]+)"', page.text)
    assert key, page.text
    fields = {"hazard": "暴雨", "level": "orange", "title": "达坂城区暴雨橙色预警", "instruction": "",
              "description": "", "expires": "", "area_text": "", "q": "", "csrf": csrf_of(page),
              "request_key": key.group(1), "area_codes": [LARGE]}  # fmt: skip
    previewed = await anonymous.post(path, data={**fields, "action": "preview"})
    digest = re.search(r'name="previewed" id="previewed" value="([0-9a-f]{16})"', previewed.text)
    assert digest, previewed.text
    done = await anonymous.post(path, data={**fields, "action": "issue", "previewed": digest.group(1)})
    assert done.status_code == 303, done.text
    return done.headers["location"].split("/console/warnings/")[1].split("?")[0]


async def _console_issue(client: AsyncClient, anonymous: AsyncClient, *_: Any) -> str:
    return await _console(client, anonymous, "/console/warnings/new")


async def _console_update(client: AsyncClient, anonymous: AsyncClient, *_: Any) -> str:
    old = await issue(client, area_codes=[SMALL])
    await send_all()
    return await _console(client, anonymous, f"/console/warnings/{old['id']}/update")


def _cap_pair() -> tuple[bytes, bytes]:
    """A CAP Alert for the small village, and an Update of it for the whole county."""
    sent = moment()
    small = alert(info(areas=(cpeas(SMALL),)), sent=sent)
    large = alert(info(areas=(cpeas(LARGE),)), msg_type="Update", references=reference(sent))
    return small, large


async def _cap_alert(client: AsyncClient, *_: Any) -> str:
    response = await post_cap(client, alert(info(areas=(cpeas(LARGE),))))
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def _cap_update(client: AsyncClient, *_: Any) -> str:
    small, large = _cap_pair()
    assert (await post_cap(client, small)).status_code == 201
    await send_all()
    response = await post_cap(client, large)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def _poll(hub: FeedServer, settings: Any, *documents: bytes) -> None:
    """The heartbeat polls a feed listing the documents (newest first), as it is configured to."""
    entries = [
        (f"urn:jiaoying:{hashlib.sha256(document).hexdigest()}", None, document) for document in reversed(documents)
    ]
    url = hub.serve("/feed.atom", atom(*entries), "application/atom+xml")
    heartbeat = Heartbeat(Dispatcher.serving(ConsoleProvider()), settings.model_copy(update={"cap_feeds": url}))
    await heartbeat.hold_lease()
    await heartbeat.poll_cap_feeds()


async def _newest(client: AsyncClient) -> str:
    return str((await client.get("/api/v1/warnings")).json()["items"][0]["id"])


async def _feed_alert(client: AsyncClient, anonymous: AsyncClient, hub: FeedServer, settings: Any) -> str:
    await _poll(hub, settings, alert(info(areas=(cpeas(LARGE),))))
    return await _newest(client)


async def _feed_update(client: AsyncClient, anonymous: AsyncClient, hub: FeedServer, settings: Any) -> str:
    small, large = _cap_pair()
    await _poll(hub, settings, small)
    assert (await client.get(f"/api/v1/warnings/{await _newest(client)}")).json()["status"] == "active"
    await send_all()
    await _poll(hub, settings, small, large)
    return await _newest(client)


PATHS: dict[str, Path] = {
    "api issue": _api_issue, "api update": _api_update, "console issue": _console_issue,
    "console update": _console_update, "cap alert": _cap_alert, "cap update": _cap_update,
    "feed alert": _feed_alert, "feed update": _feed_update,
}  # fmt: skip


@pytest.fixture
def hub() -> Iterator[FeedServer]:
    server = FeedServer().start()
    yield server
    server.stop()


@pytest.mark.parametrize("path", list(PATHS))
async def test_every_way_of_issuing_expands_in_steps_above_the_threshold(
    app: Any, client: AsyncClient, anonymous: AsyncClient, regions: None, small_slices: None, hub: FeedServer,
    path: str,
) -> None:  # fmt: skip
    people = await roster(client)
    warning_id = await PATHS[path](client, anonymous, hub, app.state.settings)
    expanding = (await client.get(f"/api/v1/warnings/{warning_id}")).json()
    assert expanding["status"] == "expanding" and expanding["calls"]["total"] == 0, path
    await run_steps(warning_id)
    done = (await client.get(f"/api/v1/warnings/{warning_id}")).json()
    assert done["status"] == "active"
    assert done["calls"]["total"] == len({phone for phones in people.values() for phone in phones})
    if done["supersedes"]:
        old = (await client.get(f"/api/v1/warnings/{done['supersedes']}")).json()
        assert old["status"] == "superseded" and set(old["calls"]["by_status"]) == {"cancelled"}
        # Its two people are called again by the update: no lifting notice for them.
        assert [m for m in await outbox(client, old["id"]) if m["kind"] == "lifting"] == []
