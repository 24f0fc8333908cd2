"""A warning's own texts in other languages (`translations`): taken, stored, shown, compared for
idempotency, and replaced by an update's."""

import hashlib

import orjson
import pytest
from httpx import AsyncClient

from app.warning.schemas import WarningIn
from app.warning.service import body_hash
from tests.factories import TOWNSHIP, create_contact, issue, warning_body

UG = {
    "title": "قاتتىق يامغۇر قىزىل ئاگاھلاندۇرۇشى",
    "description": "كەلگۈسى 6 سائەت ئىچىدە قاتتىق يامغۇر ياغىدۇ.",
    "instruction": "پەس جايلاردىكى ئادەملەرنى يۆتكەڭ.",
}
KK = {"title": "نوسەر جاۋىن قىزىل ەسكەرتۋى"}


async def test_translations_are_stored_and_shown_by_language(client: AsyncClient, regions: None) -> None:
    # Any primary subtag is taken, however cased; a county may add a catalog for it later.
    texts = {"UG": UG, "kk": KK | {"description": "", "instruction": None}, "ky": {"title": "Жаан"}}
    warning = await issue(client, translations=texts)
    expected = {"ug": UG, "kk": KK, "ky": {"title": "Жаан"}}
    assert warning["translations"] == expected
    assert (await client.get(f"/api/v1/warnings/{warning['id']}")).json()["translations"] == expected
    plain = await issue(client, translations={})
    listed = {w["id"]: w["translations"] for w in (await client.get("/api/v1/warnings")).json()["items"]}
    assert listed == {warning["id"]: expected, plain["id"]: {}}
    assert warning["title"] == warning_body()["title"]  # the warning's own fields stay Chinese


BAD = {
    "chinese is the warning's own": {"zh": {"title": "暴雨红色预警"}},
    "chinese in capitals": {"ZH": {"title": "暴雨红色预警"}},
    "a whole tag, not its primary subtag": {"ug-CN": UG},
    "one letter": {"u": UG},
    "a script subtag alone": {"Arab": UG},
    "an unknown text": {"ug": UG | {"headline": "..."}},
    "an empty title": {"ug": {"title": " "}},
    "a title on two lines": {"ug": {"title": "قاتتىق\nيامغۇر"}},
    "a title too long": {"ug": {"title": "ي" * 201}},
    "an instruction too long": {"ug": {"instruction": "ي" * 501}},
    "a control character": {"ug": {"description": "يامغۇر\x00"}},
    "the same language twice": {"ug": UG, "UG": UG},
    "eleven languages": {f"x{chr(97 + n)}": {"title": "t"} for n in range(11)},
    "texts not an object": {"ug": "قاتتىق يامغۇر"},
    "not an object": ["ug"],
}


@pytest.mark.parametrize("case", BAD)
async def test_bad_translations_are_refused_and_nothing_written(client: AsyncClient, regions: None, case: str) -> None:
    response = await client.post("/api/v1/warnings", json=warning_body(translations=BAD[case]))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert all(error["loc"][:2] == ["body", "translations"] for error in response.json()["errors"])
    assert (await client.get("/api/v1/warnings")).json()["items"] == []


async def test_ten_languages_are_taken(client: AsyncClient, regions: None) -> None:
    texts = {f"x{chr(97 + n)}": {"title": "t"} for n in range(10)}
    assert len((await issue(client, translations=texts))["translations"]) == 10


async def test_idempotency_compares_the_translations(client: AsyncClient, regions: None) -> None:
    await create_contact(client)
    headers = {"Idempotency-Key": "storm-ug"}
    first = await client.post("/api/v1/warnings", json=warning_body(translations={"ug": UG}), headers=headers)
    assert first.status_code == 201, first.text
    same = warning_body(translations={"UG": dict(reversed(list(UG.items()))) | {"description": UG["description"]}})
    again = await client.post("/api/v1/warnings", json=same, headers=headers)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    for other in ({"ug": UG | {"title": "قاتتىق يامغۇر ئاگاھلاندۇرۇشى"}}, {"ug": UG, "kk": KK}, None):
        response = await client.post("/api/v1/warnings", json=warning_body(translations=other), headers=headers)
        assert response.status_code == 409, (other, response.text)
    # None given, or an empty object, is the same body.
    plain = {"Idempotency-Key": "storm-zh"}
    created = await client.post("/api/v1/warnings", json=warning_body(), headers=plain)
    empty = await client.post("/api/v1/warnings", json=warning_body(translations={}), headers=plain)
    assert created.status_code == 201 and empty.status_code == 200 and empty.json()["id"] == created.json()["id"]
    assert (
        await client.post("/api/v1/warnings", json=warning_body(translations={"ug": UG}), headers=plain)
    ).status_code == 409


def test_a_body_without_translations_hashes_as_before_they_were_taken() -> None:
    # Keys are kept 24 h: a retry of a request made before translations existed still replays.
    data = WarningIn.model_validate(warning_body())
    before = {key: value for key, value in data.model_dump(mode="json").items() if key != "translations"}
    assert body_hash(data) == hashlib.sha256(orjson.dumps(before, option=orjson.OPT_SORT_KEYS)).hexdigest()
    assert body_hash(WarningIn.model_validate(warning_body(translations={"ug": UG}))) != body_hash(data)


async def test_an_update_has_the_update_s_translations(client: AsyncClient, regions: None) -> None:
    old = await issue(client, translations={"ug": UG, "kk": KK})
    newer = {"ug": {"title": "قاتتىق يامغۇر ئاگاھلاندۇرۇشى بىكار قىلىندى"}}
    response = await client.post(
        f"/api/v1/warnings/{old['id']}/update", json=warning_body(area_codes=[TOWNSHIP], translations=newer)
    )
    assert response.status_code == 201, response.text
    new = response.json()
    assert new["translations"] == newer and new["supersedes"] == old["id"]
    assert (await client.get(f"/api/v1/warnings/{old['id']}")).json()["translations"] == {"ug": UG, "kk": KK}
    plain = await client.post(f"/api/v1/warnings/{new['id']}/update", json=warning_body(area_codes=[TOWNSHIP]))
    assert plain.status_code == 201 and plain.json()["translations"] == {}
