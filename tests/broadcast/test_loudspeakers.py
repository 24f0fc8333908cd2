"""Village loudspeakers (大喇叭): registered per village or township; a red warning broadcasts at
once to every targeted region with one, through the loudspeaker platform (a loopback stand-in that
checks the signature as the contract defines it), its receipt on the record; a lifting is broadcast
where the alert went; test warnings broadcast nothing."""

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI, Request, Response
from httpx import AsyncClient

from app.broadcast import sender
from app.config import Settings
from app.db import utc_now
from app.notify import webhook
from tests.factories import (
    COUNTY,
    OTHER_TOWNSHIP,
    TOWNSHIP,
    VILLAGE,
    bearer,
    calls,
    create_contact,
    create_key,
    issue,
    outbox,
    send_all,
)
from tests.ports import free_port, serve_in_thread, stop_serving
from tests.web.pages import sign_in

SECRET = "loudspeaker-platform-secret"


@dataclass
class Platform:
    """The loudspeaker platform's stand-in: takes signed broadcasts, keeps them, answers 200."""

    port: int = field(default_factory=free_port)
    received: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    refuse_with: int | None = None

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/broadcasts")
        async def broadcasts(request: Request) -> Response:
            body = await request.body()
            if not webhook.verify(SECRET, request.headers.get("x-jiaoying-timestamp"),
                                  request.headers.get("x-jiaoying-signature"), body):  # fmt: skip
                self.bad_signatures += 1
                return Response(status_code=401)
            if self.refuse_with:
                return Response("no such loudspeaker", status_code=self.refuse_with)
            self.received.append(orjson.loads(body))
            return Response(status_code=202)

        return app


@pytest.fixture
def platform(app: Any) -> Iterator[Platform]:
    """The stand-in on loopback, and the service taking its receipts (signed with the secret)."""
    running = Platform()
    server, thread = serve_in_thread(running.app(), running.port, "the loudspeaker platform")
    app.state.settings.broadcast_secret = SECRET
    yield running
    app.state.settings.broadcast_secret = None
    stop_serving(server, thread)


def settings_for(platform: Platform) -> Settings:
    return Settings(broadcast_url=f"http://127.0.0.1:{platform.port}/broadcasts", broadcast_secret=SECRET)


async def send(platform: Platform) -> int:
    async with httpx.AsyncClient() as client:
        return await sender.send_due(settings_for(platform), client, now=utc_now())


async def receipt(anonymous: AsyncClient, items: Any, secret: str = SECRET) -> httpx.Response:
    body = json.dumps(items).encode()
    return await anonymous.post("/api/v1/providers/broadcast/receipts", content=body,
                                headers=webhook.signed_headers(secret, body))  # fmt: skip


async def test_loudspeakers_are_kept_per_village_or_township(client: AsyncClient, regions: None) -> None:
    made = await client.post("/api/v1/loudspeakers", json={"region_code": VILLAGE, "name": "村委会大喇叭",
                                                           "languages": ["ug", "zh", "ug"]})  # fmt: skip
    assert made.status_code == 201, made.text
    speaker = made.json()
    assert speaker["languages"] == ["zh", "ug"] and speaker["active"] is True
    county = await client.post("/api/v1/loudspeakers", json={"region_code": COUNTY, "name": "县广播"})
    assert county.status_code == 422 and county.headers["content-type"] == "application/problem+json"
    unknown = await client.post("/api/v1/loudspeakers", json={"region_code": VILLAGE, "name": "x", "languages": ["fr"]})
    assert unknown.status_code == 422
    elsewhere = bearer(await create_key(client, "duty_officer", OTHER_TOWNSHIP))
    refused = await client.post("/api/v1/loudspeakers", json={"region_code": VILLAGE, "name": "x"}, headers=elsewhere)
    assert refused.status_code == 403
    assert (await client.get(f"/api/v1/loudspeakers/{speaker['id']}", headers=elsewhere)).status_code == 403
    listed = (await client.get("/api/v1/loudspeakers", params={"region_code": TOWNSHIP})).json()["items"]
    assert [s["id"] for s in listed] == [speaker["id"]]
    assert (await client.delete(f"/api/v1/loudspeakers/{speaker['id']}")).status_code == 204
    assert (await client.get(f"/api/v1/loudspeakers/{speaker['id']}")).json()["active"] is False
    assert (await client.get("/api/v1/loudspeakers", params={"region_code": TOWNSHIP})).json()["items"] == []


async def test_a_red_warning_is_broadcast_and_its_receipt_is_on_the_record(
    client: AsyncClient, anonymous: AsyncClient, regions: None, platform: Platform
) -> None:
    await client.post("/api/v1/loudspeakers", json={"region_code": VILLAGE, "name": "村委会大喇叭",
                                                    "languages": ["zh", "ug"]})  # fmt: skip
    warning = await issue(client, area_codes=[TOWNSHIP])
    assert await send(platform) == 1
    (played,) = platform.received
    assert played["warning_id"] == warning["id"] and played["region_code"] == VILLAGE and played["kind"] == "alert"
    assert played["level"] == "red" and played["repeat"] == 3
    assert played["texts"]["zh"].startswith("达坂城区大风红色预警。停止户外作业")
    assert await send(platform) == 0  # once
    answered = await receipt(anonymous, {"broadcast_id": played["broadcast_id"], "status": "delivered"})
    assert answered.status_code == 200 and answered.json()["status"] == "delivered"
    again = await receipt(anonymous, [{"broadcast_id": played["broadcast_id"], "status": "failed"},
                                      {"broadcast_id": "nobody-sent-this", "status": "delivered"}])  # fmt: skip
    assert again.json()["results"][0]["status"] == "delivered" and again.json()["unknown"] == 1
    assert (await receipt(anonymous, {"broadcast_id": played["broadcast_id"], "status": "delivered"},
                          secret="wrong")).status_code == 401  # fmt: skip
    events = (await client.get(f"/api/v1/warnings/{warning['id']}/timeline", params={"limit": 500})).json()["items"]
    kinds = [e["type"] for e in events]
    assert kinds.count("broadcast.sent") == 1 and kinds.count("broadcast.delivered") == 1
    # Lifted: the loudspeaker that played it says so.
    lifted = await client.post(
        f"/api/v1/warnings/{warning['id']}/cancel", json={"kind": "lifted", "reason": "风力减弱"}
    )
    assert lifted.status_code == 200, lifted.text
    assert await send(platform) == 1
    assert platform.received[-1]["kind"] == "lifting" and "已解除" in platform.received[-1]["texts"]["zh"]


async def test_what_is_not_broadcast(client: AsyncClient, regions: None, platform: Platform) -> None:
    await client.post("/api/v1/loudspeakers", json={"region_code": VILLAGE, "name": "村委会大喇叭"})
    await issue(client, mode="test", area_codes=[TOWNSHIP])  # a dry run
    await issue(client, level="blue", area_codes=[TOWNSHIP])  # blue: the policy does not broadcast
    assert await send(platform) == 0 and platform.received == []
    exercise = await issue(client, mode="exercise", area_codes=[TOWNSHIP])
    platform.refuse_with = 404
    assert await send(platform) == 0
    events = (await client.get(f"/api/v1/warnings/{exercise['id']}/timeline", params={"limit": 500})).json()["items"]
    (failed,) = [e for e in events if e["type"] == "broadcast.failed"]
    assert "404" in failed["data"]["error"]


async def test_a_platform_down_is_tried_again_and_none_set_up_fails_on_the_record(
    client: AsyncClient, regions: None
) -> None:
    await client.post("/api/v1/loudspeakers", json={"region_code": VILLAGE, "name": "村委会大喇叭"})
    warning = await issue(client, area_codes=[TOWNSHIP])
    down = Settings(broadcast_url=f"http://127.0.0.1:{free_port()}/broadcasts", broadcast_secret=SECRET)
    async with httpx.AsyncClient() as http:
        assert await sender.send_due(down, http, now=utc_now()) == 0
        assert await sender.send_due(down, http, now=utc_now()) == 0  # waits its back-off
        none = Settings(broadcast_url=None, broadcast_secret=None)
        assert await sender.send_due(none, http, now=utc_now() + timedelta(minutes=2)) == 0
    events = (await client.get(f"/api/v1/warnings/{warning['id']}/timeline", params={"limit": 500})).json()["items"]
    (failed,) = [e for e in events if e["type"] == "broadcast.failed"]
    assert "no loudspeaker platform is configured" in failed["data"]["error"]


async def test_the_villages_person_confirms_on_the_ack_page_that_it_played(
    client: AsyncClient, anonymous: AsyncClient, regions: None, platform: Platform
) -> None:
    await client.post("/api/v1/loudspeakers", json={"region_code": VILLAGE, "name": "村委会大喇叭"})
    person = await create_contact(client, VILLAGE, channels=["sms"])
    warning = await issue(client, area_codes=[TOWNSHIP])
    await send(platform)
    await send_all()
    sms = next(m for m in await outbox(client, warning["id"]) if m["to"] == person["phone"])
    link = sms["ack_url"].removeprefix("http://127.0.0.1:8000")
    page = await anonymous.get(link)
    assert "村里大喇叭" in page.text and "已发送" in page.text
    actions = [part.split('"', 1)[0] for part in page.text.split('<form method="post" action="')[1:]]
    (action,) = [a for a in actions if a.startswith(f"{link}/broadcasts/")]
    confirmed = await anonymous.post(action)
    assert confirmed.status_code == 303 and confirmed.headers["location"] == f"{link}?sent=broadcast"
    assert (await anonymous.post(action)).status_code == 303  # once on the record
    after = await anonymous.get(f"{link}?sent=broadcast")
    assert "已确认广播" in after.text and "已记录广播" in after.text
    assert (await anonymous.post(f"{link}/broadcasts/not-a-broadcast")).status_code == 404
    events = (await client.get(f"/api/v1/warnings/{warning['id']}/timeline", params={"limit": 500})).json()["items"]
    assert [e["type"] for e in events].count("broadcast.confirmed") == 1
    (call,) = [c for c in await calls(client, warning["id"]) if c["contact"]["id"] == person["id"]]
    assert call["status"] != "acknowledged"  # a broadcast never answers a call


async def test_the_board_marks_each_villages_loudspeaker(
    client: AsyncClient, anonymous: AsyncClient, regions: None, platform: Platform
) -> None:
    await client.post("/api/v1/loudspeakers", json={"region_code": VILLAGE, "name": "村委会大喇叭"})
    warning = await issue(client, area_codes=[TOWNSHIP])
    await sign_in(anonymous, await create_key(client, "duty_officer", COUNTY))
    board = f"/console/warnings/{warning['id']}"
    assert 'class="speaker waiting" title="大喇叭：待播放"' in (await anonymous.get(board)).text
    await send(platform)
    assert 'class="speaker sent"' in (await anonymous.get(board)).text
    await receipt(anonymous, {"broadcast_id": platform.received[0]["broadcast_id"], "status": "delivered"})
    page = (await anonymous.get(board)).text
    assert f'id="r-{VILLAGE}"' in page and 'class="speaker played" title="大喇叭：已播放"' in page


async def test_the_response_report_counts_the_loudspeakers_that_played(
    client: AsyncClient, anonymous: AsyncClient, regions: None, platform: Platform
) -> None:
    for village in (VILLAGE, "650107001002"):
        await client.post("/api/v1/loudspeakers", json={"region_code": village, "name": "大喇叭"})
    await issue(client, area_codes=[TOWNSHIP])
    await send(platform)
    await receipt(anonymous, {"broadcast_id": platform.received[0]["broadcast_id"], "status": "delivered"})
    rows = (await client.get("/api/v1/reports/response", params={"region_code": COUNTY, "group_by": "township"})).json()
    (row,) = [r for r in rows["items"] if r["region_code"] == TOWNSHIP]
    assert row["broadcast_rate"] == 0.5  # one of the two villages with a loudspeaker played it
    exported = await client.get("/api/v1/reports/response", params={"region_code": COUNTY, "format": "csv"})
    assert exported.content.decode("utf-8-sig").splitlines()[0].endswith(",broadcast_rate")


async def test_an_update_lifts_the_alert_where_it_no_longer_reaches(
    client: AsyncClient, regions: None, platform: Platform
) -> None:
    """An update once cancelled only the old alert's broadcasts not yet gone: a village the update
    no longer covers had played the alert and never heard it was over."""
    for village in (VILLAGE, "650107004001"):
        await client.post("/api/v1/loudspeakers", json={"region_code": village, "name": "大喇叭"})
    warning = await issue(client, area_codes=[COUNTY])
    await send(platform)
    updated = await client.post(f"/api/v1/warnings/{warning['id']}/update",
                                json={"hazard": "大风", "level": "red", "title": "乌拉泊街道大风红色预警",
                                      "area_codes": [OTHER_TOWNSHIP]})  # fmt: skip
    assert updated.status_code == 201, updated.text
    await send(platform)
    played = sorted((b["region_code"], b["kind"], b["warning_id"] == warning["id"]) for b in platform.received)
    assert played == [("650107001001", "alert", True), ("650107001001", "lifting", True),
                      ("650107004001", "alert", False), ("650107004001", "alert", True)]  # fmt: skip


async def test_a_receipt_is_kept_whenever_it_comes(client: AsyncClient, anonymous: AsyncClient, regions: None,
                                                   platform: Platform) -> None:  # fmt: skip
    """A receipt once was dropped when it came while its broadcast waited to be handed over again
    (a timeout), and one that beat the sender's record left no `broadcast.sent`."""
    from sqlalchemy import select

    from app.db import session_scope
    from app.models.broadcast import Broadcast

    await client.post("/api/v1/loudspeakers", json={"region_code": VILLAGE, "name": "大喇叭"})
    warning = await issue(client, area_codes=[TOWNSHIP])
    (claimed,) = await sender._claim(utc_now(), timedelta(seconds=60))
    await receipt(anonymous, {"broadcast_id": claimed.id, "status": "delivered"})  # before the sender records
    await sender._record([(claimed, "sent", None)], utc_now())
    async with session_scope() as session:
        row = await session.get_one(Broadcast, claimed.id)
    assert row.status == "delivered" and row.sent_at is not None
    events = (await client.get(f"/api/v1/warnings/{warning['id']}/timeline", params={"limit": 500})).json()["items"]
    assert {"broadcast.sent", "broadcast.delivered"} <= {e["type"] for e in events}

    second = await issue(client, area_codes=[TOWNSHIP], title="第二个预警")
    (claimed,) = await sender._claim(utc_now(), timedelta(seconds=60))
    await sender._record([(claimed, "retry", "timed out")], utc_now())  # waits to go again
    answered = await receipt(anonymous, {"broadcast_id": claimed.id, "status": "delivered"})
    assert answered.json()["status"] == "delivered"
    assert await send(platform) == 0 and platform.received == []  # played already: not sent again
    async with session_scope() as session:
        statuses = list(await session.scalars(select(Broadcast.status).where(Broadcast.warning_id == second["id"])))
    assert statuses == ["delivered"]
