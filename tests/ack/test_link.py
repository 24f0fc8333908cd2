"""The acknowledgement link: a page that never acknowledges on GET, 收到 by POST, feedback, closing."""

import itertools
from datetime import timedelta

from httpx import AsyncClient
from sqlalchemy import update

from app.db import session_scope, utc_now
from app.models.call import Call
from app.models.warning import Warning
from tests.factories import VILLAGE, calls, create_contact, issue, outbox, send_all, token_of, warning_body

JSON = {"Accept": "application/json"}


async def _link(client: AsyncClient, **fields: object) -> tuple[dict, str]:
    await create_contact(client)
    warning = await issue(client, **fields)
    await send_all()
    sms = next(m for m in await outbox(client, warning["id"]) if m["channel"] == "sms")
    return warning, token_of(sms)


async def test_page_shows_the_warning_and_a_form_but_does_not_acknowledge(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    warning, token = await _link(client)
    page = await anonymous.get(f"/ack/{token}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "收到" in html and 'method="post"' in html and "<script" not in html.lower()
    assert "大风" in html and "红色预警" in html and "北京时间" in html and "工人新村社区居委会" in html
    assert "#c5221f" in html  # red
    assert page.headers["cache-control"] == "no-store"
    assert (await calls(client, warning["id"]))[0]["status"] == "notified"


async def test_post_acknowledges_once_and_reaches_the_region(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    warning, token = await _link(client)
    first = await anonymous.post(f"/ack/{token}", headers=JSON)
    assert first.status_code == 200 and first.json()["status"] == "acknowledged"
    again = await anonymous.post(f"/ack/{token}", headers=JSON)
    assert again.json() == first.json()
    call = (await calls(client, warning["id"]))[0]
    assert call["status"] == "acknowledged" and call["ack_method"] == "link" and call["late"] is False
    region = (await client.get(f"/api/v1/warnings/{warning['id']}/regions", params={"state": "reached"})).json()
    assert [(r["region_code"], r["reached_by"]) for r in region["items"]] == [(VILLAGE, "link")]
    assert (await client.get(f"/api/v1/warnings/{warning['id']}")).json()["reached_regions"] == 1


async def test_form_post_redirects_back_to_the_page(client: AsyncClient, anonymous: AsyncClient, regions: None) -> None:
    _, token = await _link(client)
    response = await anonymous.post(f"/ack/{token}")
    assert response.status_code == 303 and response.headers["location"] == f"/ack/{token}?sent=ack"
    assert "已收到" in (await anonymous.get(response.headers["location"])).text


async def test_a_late_answer_counts_and_is_marked_late(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    warning, token = await _link(client)
    async with session_scope() as session:
        await session.execute(update(Call).values(status="unanswered", deadline_at=utc_now() - timedelta(minutes=1)))
    assert (await anonymous.post(f"/ack/{token}", headers=JSON)).status_code == 200
    call = (await calls(client, warning["id"]))[0]
    assert call["status"] == "acknowledged" and call["late"] is True


async def test_unknown_token_is_404(anonymous: AsyncClient) -> None:
    assert (await anonymous.get("/ack/not-a-token")).status_code == 404
    response = await anonymous.post("/ack/not-a-token", headers=JSON)
    assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"


async def test_feedback_stages_and_rules(client: AsyncClient, anonymous: AsyncClient, regions: None) -> None:
    warning, token = await _link(client)
    initial = await anonymous.post(
        f"/ack/{token}/feedback", json={"stage": "initial", "actions": "已到岗，排查隐患", "evacuated": 0}
    )
    assert initial.status_code == 201 and initial.json()["stage"] == "initial"
    call = (await calls(client, warning["id"]))[0]
    assert call["status"] == "acknowledged" and call["feedback_count"] == 1  # feedback acknowledges too
    negative = await anonymous.post(f"/ack/{token}/feedback", json={"stage": "follow_up", "evacuated": -3})
    assert negative.status_code == 422
    unknown = await anonymous.post(f"/ack/{token}/feedback", json={"stage": "summary"})
    assert unknown.status_code == 422
    final = await anonymous.post(f"/ack/{token}/feedback", json={"stage": "final", "evacuated": 35, "note": "已解除"})
    assert final.status_code == 201
    after = await anonymous.post(f"/ack/{token}/feedback", json={"stage": "follow_up", "evacuated": 36})
    assert after.status_code == 409 and after.headers["content-type"] == "application/problem+json"
    assert (await calls(client, warning["id"]))[0]["feedback_count"] == 2


async def test_feedback_by_form(client: AsyncClient, anonymous: AsyncClient, regions: None) -> None:
    _, token = await _link(client)
    form = {"stage": "initial", "actions": "已到岗", "evacuated": "", "note": ""}
    response = await anonymous.post(f"/ack/{token}/feedback", data=form)
    assert response.status_code == 303
    assert "反馈已提交" in (await anonymous.get(response.headers["location"])).text


async def test_refused_reports_on_a_form_count_against_the_links_limit(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    """A form post the page refuses (here a report after the final one) counts among the ten a
    minute a link takes: a client posting refused reports without end is turned away too."""
    _, token = await _link(client)
    final = {"stage": "final", "actions": "已全部转移", "evacuated": "3", "note": ""}
    assert (await anonymous.post(f"/ack/{token}/feedback", data=final)).status_code == 303
    refused = [(await anonymous.post(f"/ack/{token}/feedback", data=final)).status_code for _ in range(10)]
    assert refused == [409] * 9 + [429]


async def test_closed_warning_page_says_so_and_closes_a_week_later(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    warning, token = await _link(client)
    await client.post(f"/api/v1/warnings/{warning['id']}/cancel", json={"reason": "大风减弱", "kind": "lifted"})
    page = (await anonymous.get(f"/ack/{token}")).text
    assert "已解除" in page and 'action="/ack/' in page  # the 终报 form stays open
    assert (await anonymous.post(f"/ack/{token}/feedback", json={"stage": "final", "evacuated": 3})).status_code == 201
    async with session_scope() as session:
        await session.execute(update(Warning).values(closed_at=utc_now() - timedelta(days=8)))
    assert (await anonymous.get(f"/ack/{token}")).status_code == 410
    assert (await anonymous.post(f"/ack/{token}", headers=JSON)).status_code == 410


async def test_superseded_page_links_to_the_current_warning(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    warning, token = await _link(client)
    newer = await client.post(f"/api/v1/warnings/{warning['id']}/update", json=warning_body(level="orange"))
    assert newer.status_code == 201
    page = (await anonymous.get(f"/ack/{token}")).text
    assert "已更新" in page and "/ack/" in page
    stale = await anonymous.post(f"/ack/{token}", headers=JSON)
    assert stale.status_code == 409


async def test_presses_arriving_together_are_committed_together(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    import asyncio

    from tests.factories import roster

    await roster(client)
    warning = await issue(client)
    await send_all()
    links = [token_of(m) for m in await outbox(client, warning["id"]) if m["channel"] == "sms"]
    presses = [*links, links[0], links[1], "not-a-token"]  # two double presses and a stranger
    responses = await asyncio.gather(*(anonymous.post(f"/ack/{t}", headers=JSON) for t in presses))
    assert [r.status_code for r in responses] == [200] * (len(presses) - 1) + [404]
    assert responses[0].json() == responses[-3].json()
    made = await calls(client, warning["id"])
    assert {c["status"] for c in made} == {"acknowledged"} and {c["ack_method"] for c in made} == {"link"}
    body = (await client.get(f"/api/v1/warnings/{warning['id']}")).json()
    assert body["reached_regions"] == body["targeted_regions"]
    events = (await client.get(f"/api/v1/warnings/{warning['id']}/timeline", params={"limit": 1000})).json()["items"]
    assert sum(e["type"] == "call.acknowledged" for e in events) == len(made)
    names = {c["id"]: c["contact"]["name"] for c in made}
    sent = [e for e in events if e["type"] == "message.sent"]
    assert sent and all(e["contact_name"] == names[e["call_id"]] for e in sent)  # who each message went to
    assert all(m["channel"] in ("sms", "voice") for e in sent for m in e["data"]["messages"])  # and how
    assert sum(e["type"] == "region.reached" for e in events) == body["targeted_regions"]
    chain = [e for e in events if e["chain"] == f"warning:{warning['id']}"]
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(chain))


async def test_a_press_is_on_the_record_under_its_request_id(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    await create_contact(client)
    warning = await issue(client, area_codes=[VILLAGE])
    await send_all()
    token = token_of((await outbox(client, warning["id"]))[0])
    pressed = await anonymous.post(f"/ack/{token}", headers={**JSON, "X-Request-ID": "press-0001"})
    assert pressed.status_code == 200 and pressed.headers["x-request-id"] == "press-0001"
    events = (await client.get(f"/api/v1/warnings/{warning['id']}/timeline", params={"limit": 1000})).json()["items"]
    answered = [e for e in events if e["type"] in ("call.acknowledged", "region.reached")]
    assert len(answered) == 2 and {e["request_id"] for e in answered} == {"press-0001"}
    issued = next(e for e in events if e["type"] == "warning.issued")
    assert issued["request_id"] and issued["request_id"] != "press-0001"


async def test_the_link_page_carries_a_content_policy_and_nosniff(anonymous: AsyncClient) -> None:
    for path in ("/ack/" + "x" * 43,):
        page = await anonymous.get(path)
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"


async def test_after_the_deadline_the_page_says_it_is_late_and_still_wanted(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    warning, token = await _link(client)
    assert "前确认" in (await anonymous.get(f"/ack/{token}")).text
    async with session_scope() as session:
        await session.execute(
            update(Call).where(Call.warning_id == warning["id"]).values(deadline_at=utc_now() - timedelta(minutes=1))
        )
    page = (await anonymous.get(f"/ack/{token}")).text
    assert "已超过叫应时限" in page and "仍请按" in page and "前确认" not in page
