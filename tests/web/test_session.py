"""Signing in to the console with an API key: the session cookie, CSRF on every form, sign-out,
revocation, and the key's role and region deciding what each page shows and allows."""

from httpx import AsyncClient

from app.web import session as web_session
from tests.conftest import ADMIN_TOKEN
from tests.factories import COUNTY, OTHER_TOWNSHIP, TOWNSHIP, bearer, create_contact, create_key, issue
from tests.web.pages import csrf_of, sign_in


async def test_signing_in_sets_a_signed_http_only_cookie_and_lands_on_the_console(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    token = await create_key(client, "duty_officer", COUNTY, name="李值班")
    signed_in = await sign_in(anonymous, token)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/console"
    cookie = signed_in.headers["set-cookie"]
    assert cookie.startswith(f"{web_session.SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
    assert token not in cookie  # the key itself never travels in the cookie
    home = await anonymous.get("/console")
    assert home.status_code == 200 and "李值班" in home.text and "值班员" in home.text
    assert home.headers["content-security-policy"].startswith("default-src 'self'")


async def test_a_wrong_key_is_refused_with_the_form_again(anonymous: AsyncClient) -> None:
    refused = await sign_in(anonymous, "jy_not-a-key")
    assert refused.status_code == 401 and "密钥无效" in refused.text
    assert web_session.SESSION_COOKIE not in refused.headers.get("set-cookie", "")
    assert (await anonymous.get("/console")).status_code == 303


async def test_pages_send_strangers_to_the_sign_in_form_and_back(anonymous: AsyncClient) -> None:
    response = await anonymous.get("/console/reports", params={"mode": "actual"})
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login?next=%2Fconsole%2Freports%3Fmode%3Dactual"
    signed_in = await sign_in(anonymous, ADMIN_TOKEN, next_path="/console/reports?mode=actual")
    assert signed_in.headers["location"] == "/console/reports?mode=actual"


async def test_sign_in_goes_only_to_console_pages(anonymous: AsyncClient) -> None:
    for target in ("https://example.org/", "//example.org/console", "/api/v1/keys", "/console//example.org"):
        signed_in = await sign_in(anonymous, ADMIN_TOKEN, next_path=target)
        assert signed_in.headers["location"] == "/console", target


async def test_the_sign_in_form_needs_its_own_token(anonymous: AsyncClient) -> None:
    await anonymous.get("/console/login")
    forged = await anonymous.post("/console/login", data={"token": ADMIN_TOKEN, "csrf": "forged", "next": "/console"})
    assert forged.status_code == 403 and "text/html" in forged.headers["content-type"]
    assert web_session.SESSION_COOKIE not in forged.headers.get("set-cookie", "")


async def test_a_tampered_or_foreign_cookie_is_no_session(client: AsyncClient, anonymous: AsyncClient) -> None:
    await sign_in(anonymous, ADMIN_TOKEN)
    value = anonymous.cookies[web_session.SESSION_COOKIE]
    key_id, fingerprint, nonce, expires, signature = value.split(".")
    for forged in (
        f"{key_id}.{fingerprint}.{nonce}.{int(expires) + 3600}.{signature}",  # a longer life
        f"{key_id}.{fingerprint}.{nonce}.{expires}.{signature[:-2]}AA",  # a made-up signature
        "garbage",
    ):
        anonymous.cookies.set(web_session.SESSION_COOKIE, forged, domain="127.0.0.1", path="/console")
        assert (await anonymous.get("/console")).status_code == 303, forged
    anonymous.cookies.clear()
    raw = f"{web_session.SESSION_COOKIE}=管理员.-.x.9999999999.签名".encode()  # bytes no browser would sign
    assert (await anonymous.get("/console", headers={"Cookie": raw})).status_code == 303


async def test_every_form_post_needs_the_session_token(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    await create_contact(client)
    warning = await issue(client)
    await sign_in(anonymous, ADMIN_TOKEN)
    board = await anonymous.get(f"/console/warnings/{warning['id']}")
    assert board.status_code == 200
    # The same form a page of this session carries works; without its token or with another, nothing changes.
    for token in ("", "x" * 22, "令牌"):
        refused = await anonymous.post(
            f"/console/warnings/{warning['id']}/cancel", data={"csrf": token, "kind": "lifted", "reason": ""}
        )
        assert refused.status_code == 403 and "表单已失效" in refused.text
    assert (await client.get(f"/api/v1/warnings/{warning['id']}")).json()["status"] == "active"
    cancelled = await anonymous.post(
        f"/console/warnings/{warning['id']}/cancel", data={"csrf": csrf_of(board), "kind": "lifted", "reason": "雨停"}
    )
    assert cancelled.status_code == 303
    assert (await client.get(f"/api/v1/warnings/{warning['id']}")).json()["status"] == "cancelled"


async def test_signing_out_ends_the_session(anonymous: AsyncClient) -> None:
    await sign_in(anonymous, ADMIN_TOKEN)
    home = await anonymous.get("/console")
    out = await anonymous.post("/console/logout", data={"csrf": csrf_of(home)})
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    assert f'{web_session.SESSION_COOKIE}=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]
    assert (await anonymous.get("/console")).status_code == 303


async def test_a_copy_of_the_cookie_is_dead_once_its_holder_signs_out(anonymous: AsyncClient) -> None:
    await sign_in(anonymous, ADMIN_TOKEN)
    copied = anonymous.cookies.get(web_session.SESSION_COOKIE)
    home = await anonymous.get("/console")
    assert home.status_code == 200
    await anonymous.post("/console/logout", data={"csrf": csrf_of(home)})
    anonymous.cookies.set(web_session.SESSION_COOKIE, copied, path="/console")  # kept by an eavesdropper
    assert (await anonymous.get("/console")).status_code == 303


async def test_revoking_the_key_ends_its_sessions_at_once(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    created = await client.post("/api/v1/keys", json={"name": "王督查", "role": "auditor", "region_code": COUNTY})
    await sign_in(anonymous, created.json()["token"])
    assert (await anonymous.get("/console")).status_code == 200
    assert (await client.delete(f"/api/v1/keys/{created.json()['id']}")).status_code in (200, 204)
    assert (await anonymous.get("/console")).status_code == 303


async def test_an_auditor_reads_but_cannot_issue_or_act(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    contact = await create_contact(client)
    warning = await issue(client)
    await sign_in(anonymous, await create_key(client, "auditor", COUNTY, name="赵督查"))
    home = await anonymous.get("/console")
    assert warning["title"] in home.text and "发布预警</a>" not in home.text
    assert (await anonymous.get("/console/warnings/new")).status_code == 403
    board = await anonymous.get(f"/console/warnings/{warning['id']}")
    assert board.status_code == 200
    masked = contact["phone"][:6] + "****" + contact["phone"][-4:]
    assert masked in board.text and contact["phone"] not in board.text and "tel:" not in board.text
    assert "/ack" not in board.text and "结束预警" not in board.text
    call = (await client.get(f"/api/v1/warnings/{warning['id']}/calls")).json()["items"][0]
    refused = await anonymous.post(f"/console/calls/{call['id']}/ack", data={"csrf": csrf_of(board), "method": "phone"})
    assert refused.status_code == 403 and "值班员" in refused.text
    assert (await client.get(f"/api/v1/warnings/{warning['id']}/calls")).json()["items"][0]["status"] == "pending"


async def test_a_township_officer_sees_only_warnings_touching_its_township(
    client: AsyncClient, anonymous: AsyncClient, regions: None
) -> None:
    await create_contact(client)
    ours = await issue(client, area_codes=[TOWNSHIP], title="艾维尔沟街道大风预警")
    theirs = await issue(client, area_codes=[OTHER_TOWNSHIP], title="乌拉泊街道大风预警")
    await sign_in(anonymous, await create_key(client, "duty_officer", TOWNSHIP))
    home = await anonymous.get("/console")
    assert ours["title"] in home.text and theirs["title"] not in home.text
    refused = await anonymous.get(f"/console/warnings/{theirs['id']}")
    assert refused.status_code == 403 and "<html" in refused.text and "无权操作" in refused.text
    assert (await anonymous.get(f"/console/warnings/{ours['id']}")).status_code == 200
    # A county-wide warning overlaps the township: readable, but not the township officer's to end.
    county_wide = await issue(client, title="全区预警")
    board = await anonymous.get(f"/console/warnings/{county_wide['id']}")
    assert board.status_code == 200 and "结束预警" not in board.text
    refused = await anonymous.post(
        f"/console/warnings/{county_wide['id']}/cancel", data={"csrf": csrf_of(board), "kind": "lifted"}
    )
    assert refused.status_code == 403


async def test_unknown_pages_and_warnings_answer_with_a_page_not_json(anonymous: AsyncClient) -> None:
    await sign_in(anonymous, ADMIN_TOKEN)
    for path in ("/console/warnings/nope", "/console/nothing-here"):
        response = await anonymous.get(path)
        assert response.status_code == 404 and response.headers["content-type"].startswith("text/html"), path
        assert "未找到" in response.text
    malformed = await anonymous.get("/console/reports", params={"since": "yesterday"})
    assert malformed.status_code == 422 and "<html" in malformed.text and "since" in malformed.text


async def test_the_api_still_answers_bearer_tokens_only(client: AsyncClient, anonymous: AsyncClient) -> None:
    await sign_in(anonymous, ADMIN_TOKEN)
    assert (await anonymous.get("/api/v1/warnings")).status_code == 401  # the cookie is for pages only
    assert (await client.get("/api/v1/warnings", headers=bearer(ADMIN_TOKEN))).status_code == 200
