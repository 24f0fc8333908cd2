"""Limits on what a hostile client can make the service do: bad keys and failed sign-ins per
address, reports per link; never on valid acknowledgements (a township behind one carrier address
answers together)."""

from typing import Any

from httpx import ASGITransport, AsyncClient

from tests.conftest import ADMIN_TOKEN
from tests.factories import VILLAGE, bearer, calls, create_contact, issue, outbox, send_all, token_of
from tests.web.pages import csrf_of


async def test_an_address_sending_bad_keys_is_told_to_wait(
    client: AsyncClient, anonymous: AsyncClient, app: Any
) -> None:
    answers = [(await anonymous.get("/api/v1/warnings", headers=bearer(f"forged-{i}"))).status_code for i in range(12)]
    assert answers[:10] == [401] * 10 and answers[10:] == [429, 429]
    told = await anonymous.post("/api/v1/warnings", json={}, headers=bearer("forged-post"))
    assert told.status_code == 429 and int(told.headers["retry-after"]) >= 1
    assert told.headers["content-type"] == "application/problem+json"
    # Past the limit the address stops guessing: even a good key waits out the minute there,
    assert (await client.get("/api/v1/warnings")).status_code == 429
    # and is not held up anywhere else.
    elsewhere = AsyncClient(transport=ASGITransport(app=app, client=("10.0.0.9", 4000)), base_url="http://127.0.0.1")
    async with elsewhere:
        assert (await elsewhere.get("/api/v1/warnings", headers=bearer(ADMIN_TOKEN))).status_code == 200


async def test_failed_sign_ins_are_limited_per_address(anonymous: AsyncClient) -> None:
    form = await anonymous.get("/console/login")
    csrf = csrf_of(form)
    codes = [
        (await anonymous.post("/console/login", data={"token": f"wrong-{i}", "csrf": csrf})).status_code
        for i in range(11)
    ]
    assert codes[:10] == [401] * 10 and codes[10] == 429
    right = await anonymous.post("/console/login", data={"token": ADMIN_TOKEN, "csrf": csrf})
    assert right.status_code == 429  # no more tries from here this minute, right or wrong


async def test_reports_on_one_link_are_limited_and_acknowledgements_never(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    for _ in range(25):
        await create_contact(client)
    warning = await issue(client, area_codes=[VILLAGE])
    await send_all()
    tokens = sorted({token_of(m) for m in await outbox(client, warning["id"]) if m["ack_url"]})
    acks = [(await anonymous.post(f"/ack/{t}", headers={"Accept": "application/json"})).status_code for t in tokens]
    assert acks == [200] * len(tokens)  # one address, every answer taken
    report = {"stage": "follow_up", "actions": "转移中", "evacuated": 3}
    sent = [(await anonymous.post(f"/ack/{tokens[0]}/feedback", json=report)).status_code for _ in range(11)]
    assert sent[:10] == [201] * 10 and sent[10] == 429
    assert (await anonymous.post(f"/ack/{tokens[1]}/feedback", json=report)).status_code == 201
    done = {c["id"]: c for c in await calls(client, warning["id"])}
    assert sorted(c["feedback_count"] for c in done.values())[-2:] == [1, 10]
