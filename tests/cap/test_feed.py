"""The feed poller against a hub served on 127.0.0.1: new entries taken once, in sent order, even
by several pollers at once; refusals recorded; failing feeds and alerts reported and retried."""

import asyncio
import logging
import sys
from collections.abc import Iterator
from datetime import timedelta

import pytest
from httpx import AsyncClient
from prometheus_client import REGISTRY
from sqlalchemy import select

from app.cap import feed
from app.cap.identity import Sender
from app.config import Settings
from app.db import session_scope, utc_now
from app.models.cap import CapFeedEntry
from app.notify.console import ConsoleProvider
from app.notify.dispatch import Dispatcher
from app.scheduler import Heartbeat
from tests.cap.documents import CAP_FIXTURES, alert, cpeas, fixture, info, moment, reference
from tests.cap.feedserver import FeedServer, atom, rss
from tests.conftest import DATABASE_URL, ROOT
from tests.factories import TOWNSHIP, process_plan

SENDER = Sender("jiaoying@127.0.0.1")


@pytest.fixture
def hub() -> Iterator[FeedServer]:
    server = FeedServer().start()
    yield server
    server.stop()


async def poll(*urls: str) -> int:
    return await feed.poll_feeds(
        list(urls), sender=SENDER, max_bytes=1_000_000, fanout_above=10**9, plan=process_plan(), now=utc_now()
    )


async def warnings(client: AsyncClient) -> list[dict]:
    return (await client.get("/api/v1/warnings")).json()["items"]


async def entries() -> list[CapFeedEntry]:
    async with session_scope(read_only=True) as session:
        return list(await session.scalars(select(CapFeedEntry).order_by(CapFeedEntry.entry_id)))


def errors_of(url: str) -> float:
    return REGISTRY.get_sample_value("jiaoying_cap_feed_errors_total", {"feed": feed.feed_label(url)}) or 0.0


def rainstorm_pair(hub: FeedServer) -> str:
    """A feed listing an Alert and, above it (newest first), its Update; returns the feed URL."""
    sent = moment()
    hub.serve("/alerts/1.xml", fixture("dabancheng_rainstorm_alert.xml", sent=sent))
    hub.serve("/alerts/2.xml", fixture("dabancheng_rainstorm_update.xml", references=reference(sent)))
    return hub.serve(
        "/feed.atom",
        atom(("urn:alert:2", hub.url("/alerts/2.xml"), None), ("urn:alert:1", hub.url("/alerts/1.xml"), None)),
        "application/atom+xml",
    )


async def test_new_entries_are_taken_once_in_sent_order(client: AsyncClient, regions: None, hub: FeedServer) -> None:
    url = rainstorm_pair(hub)
    assert await poll(url) == 2
    listed = await warnings(client)
    assert sorted((w["status"], w["level"]) for w in listed) == [("active", "red"), ("superseded", "orange")]
    assert {w["created_by"] for w in listed} == {"CAP feed 127.0.0.1"}
    assert [(e.entry_id, e.outcome) for e in await entries()] == [
        ("urn:alert:1", "created"),
        ("urn:alert:2", "updated"),
    ]
    assert await poll(url) == 0
    assert (hub.hits["/feed.atom"], hub.hits["/alerts/1.xml"], hub.hits["/alerts/2.xml"]) == (2, 1, 1)
    assert len(await warnings(client)) == 2


async def test_several_pollers_take_each_entry_once(client: AsyncClient, regions: None, hub: FeedServer) -> None:
    url = rainstorm_pair(hub)
    changed = await asyncio.gather(*(poll(url) for _ in range(3)))
    assert sum(changed) == 2
    assert len(await warnings(client)) == 2 and len(await entries()) == 2


POLL_ONCE = """
import asyncio, sys
from app import db, wiring
from app.cap import feed
from app.config import Settings, get_settings
from app.notify import providers
from app.cap.identity import Sender

async def main():
    database = wiring.configure(Settings(database_url=sys.argv[1]))
    try:
        sender = Sender("jiaoying@127.0.0.1")
        changed = await feed.poll_feeds(
            [sys.argv[2]], sender=sender, max_bytes=10**6, fanout_above=10**9,
            plan=providers.plan(get_settings()), now=db.utc_now()
        )
    finally:
        await database.engine.dispose()
    print(changed)

asyncio.run(main())
"""


async def test_processes_polling_together_take_each_entry_once(
    client: AsyncClient, regions: None, hub: FeedServer
) -> None:
    listed = []
    for number in range(8):
        hub.serve(f"/many/{number}.xml", alert(info(headline=f"第{number}号暴雨预警", areas=(cpeas("650107001000"),))))
        listed.append((f"urn:many:{number}", hub.url(f"/many/{number}.xml"), None))
    url = hub.serve("/many.atom", atom(*listed), "application/atom+xml")
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", POLL_ONCE, DATABASE_URL, url, cwd=ROOT, stdout=asyncio.subprocess.PIPE
        )
        for _ in range(3)
    ]
    outputs = [await process.communicate() for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0]
    assert sum(int(out) for out, _ in outputs) == 8
    assert len(await warnings(client)) == 8 and len(await entries()) == 8


async def test_rss_items_link_to_their_alerts(client: AsyncClient, regions: None, hub: FeedServer) -> None:
    hub.serve("/cap/gale.xml", fixture("dabancheng_gale_en_zh.xml"))
    url = hub.serve("/hub/rss.xml", rss(("gale-1", "/cap/gale.xml")), "application/rss+xml")
    assert await poll(url) == 1
    (warning,) = await warnings(client)
    assert (warning["hazard"], warning["level"]) == ("大风", "yellow")


async def test_an_alert_carried_inside_the_entry_needs_no_fetch(
    client: AsyncClient, regions: None, hub: FeedServer
) -> None:
    url = hub.serve("/inline.atom", atom(("urn:inline:1", None, alert(status="Exercise"))), "application/atom+xml")
    assert await poll(url) == 1
    (warning,) = await warnings(client)
    assert warning["mode"] == "exercise" and set(hub.hits) == {"/inline.atom"}


async def test_a_refused_entry_is_recorded_and_not_fetched_again(
    client: AsyncClient, regions: None, hub: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    hub.serve("/foreign.xml", (CAP_FIXTURES / "oasis_example2_thunderstorm_polygon.xml").read_bytes())
    hub.serve("/dtd.xml", alert().replace(b"<alert ", b'<!DOCTYPE alert [<!ENTITY x "y">]><alert '))
    url = hub.serve(
        "/feed.atom",
        atom(("urn:foreign", hub.url("/foreign.xml"), None), ("urn:dtd", hub.url("/dtd.xml"), None)),
        "application/atom+xml",
    )
    refused_before = REGISTRY.get_sample_value("jiaoying_cap_feed_entries_total", {"outcome": "refused"}) or 0.0
    with caplog.at_level(logging.INFO, logger="app.cap.feed"):
        assert await poll(url) == 0
        assert await poll(url) == 0
    recorded = {e.entry_id: (e.outcome, e.detail or "") for e in await entries()}
    assert recorded["urn:foreign"][0] == "refused" and "only geocodes of scheme SAME" in recorded["urn:foreign"][1]
    assert recorded["urn:dtd"][0] == "refused" and "DTDs are not accepted" in recorded["urn:dtd"][1]
    assert (hub.hits["/foreign.xml"], hub.hits["/dtd.xml"]) == (1, 1)
    assert REGISTRY.get_sample_value("jiaoying_cap_feed_entries_total", {"outcome": "refused"}) == refused_before + 2
    assert "urn:foreign refused" in caplog.text
    assert await warnings(client) == []


async def test_a_failing_feed_is_reported_and_retried(
    client: AsyncClient, regions: None, hub: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = rainstorm_pair(hub)
    hub.fail("/feed.atom", 503)
    gone = "http://127.0.0.1:9/feed.atom?token=secret"  # nothing listens on the discard port
    before, gone_before = errors_of(url), errors_of(gone)
    with caplog.at_level(logging.WARNING, logger="app.cap.feed"):
        assert await poll(url, gone) == 0
    assert errors_of(url) == before + 1 and errors_of(gone) == gone_before + 1
    assert f"CAP feed {feed.feed_label(url)}: reading the feed failed" in caplog.text and "HTTP 503" in caplog.text
    assert "secret" not in caplog.text and feed.feed_label(gone) == "http://127.0.0.1:9/feed.atom"
    hub.heal("/feed.atom")
    assert await poll(url, gone) == 2  # the other feed still failing does not hold this one back
    assert len(await warnings(client)) == 2


async def test_an_alert_that_cannot_be_fetched_is_tried_again(
    client: AsyncClient, regions: None, hub: FeedServer
) -> None:
    url = rainstorm_pair(hub)
    hub.fail("/alerts/1.xml")
    before = errors_of(url)
    # The Update is complete: its people are called now. Its Alert, fetched at the next poll,
    # arrives after it and changes nothing.
    assert await poll(url) == 1
    assert errors_of(url) == before + 1 and [w["level"] for w in await warnings(client)] == ["red"]
    hub.heal("/alerts/1.xml")
    assert await poll(url) == 0
    assert [w["status"] for w in await warnings(client)] == ["active"]
    assert [(e.entry_id, e.outcome) for e in await entries()] == [
        ("urn:alert:1", "recorded"),
        ("urn:alert:2", "created"),
    ]
    assert hub.hits["/alerts/2.xml"] == 1


async def test_an_update_of_an_alert_never_seen_calls_the_people_it_names(
    client: AsyncClient, regions: None, hub: FeedServer
) -> None:
    sent = moment() - timedelta(hours=2)
    orphan = fixture("dabancheng_rainstorm_update.xml", sent=sent, references=reference(sent - timedelta(hours=1)))
    hub.serve("/orphan.xml", orphan)
    url = hub.serve("/feed.atom", atom(("urn:orphan", hub.url("/orphan.xml"), None)), "application/atom+xml")
    assert await poll(url) == 1
    ((outcome, detail),) = [(e.outcome, e.detail) for e in await entries()]
    assert outcome == "created" and detail is None
    (warning,) = await warnings(client)
    assert warning["status"] == "active" and warning["level"] == "red"


async def test_an_oversized_alert_is_refused_without_reading_it_all(
    client: AsyncClient, regions: None, hub: FeedServer
) -> None:
    big = alert().replace(b"<scope>Public</scope>", b"<scope>Public</scope><note>" + b"x" * 2_000_000 + b"</note>")
    hub.serve("/big.xml", big)
    url = hub.serve("/feed.atom", atom(("urn:big", hub.url("/big.xml"), None)), "application/atom+xml")
    before = errors_of(url)
    assert await poll(url) == 0
    assert errors_of(url) == before + 1 and await entries() == [] and await warnings(client) == []


async def test_the_heartbeat_polls_the_configured_feeds(client: AsyncClient, regions: None, hub: FeedServer) -> None:
    url = rainstorm_pair(hub)
    idle = Heartbeat(Dispatcher.serving(ConsoleProvider()), Settings(cap_feeds=""))
    assert idle.scheduler.get_job("poll-cap-feeds") is None
    other = hub.serve("/other.atom", atom(("urn:x", None, alert(sent=moment()))), "application/atom+xml")
    heartbeat = Heartbeat(
        Dispatcher.serving(ConsoleProvider()), Settings(cap_feeds=f"{url}, {other}\n{url}", cap_poll_seconds=30)
    )
    assert heartbeat.cap_feeds == [url, other]
    job = heartbeat.scheduler.get_job("poll-cap-feeds")
    assert job is not None and job.trigger.interval.total_seconds() == 30
    await heartbeat.hold_lease()  # on SQLite only the lease holder runs jobs
    await heartbeat.poll_cap_feeds()
    assert len(await warnings(client)) == 3
    assert all(w["targeted_regions"] > 0 for w in await warnings(client))
    assert any(w["area_codes"] == [TOWNSHIP] for w in await warnings(client))


async def test_an_error_page_in_place_of_an_entry_is_an_error_and_asked_for_again(
    client: AsyncClient, regions: None, hub: FeedServer
) -> None:
    page = (CAP_FIXTURES / "real-feeds" / "14_tw_fifows_html-error-page_saved-as-cap.cap").read_bytes()
    hub.serve("/alerts/flaky.xml", page, "text/html")
    url = hub.serve("/flaky.atom", atom(("urn:flaky", hub.url("/alerts/flaky.xml"), None)), "application/atom+xml")
    before = errors_of(url)
    assert await poll(url) == 0
    assert errors_of(url) == before + 1 and await entries() == []  # not refused for good
    hub.serve("/alerts/flaky.xml", fixture("dabancheng_rainstorm_alert.xml"))  # the host is back
    assert await poll(url) == 1
    assert [entry.outcome for entry in await entries()] == ["created"]
