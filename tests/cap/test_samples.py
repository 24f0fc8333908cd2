"""Every real CAP 1.2 sample (copied verbatim from ../shared/cap-samples, see PROVENANCE.md) parses
and validates; each names areas outside China, so each is refused with the reason, changing nothing."""

import pytest
from httpx import AsyncClient
from lxml import etree

from app.cap import languages, levels, parse
from tests.cap.documents import CAP_FIXTURES, SAMPLES, post_cap

# Why each sample cannot become a warning here: the area schemes it uses instead of CPEAS codes.
REFUSALS = {
    "eccc_snowfall_update_signed.cap.xml": ("areas could not be mapped", "profile:CAP-CP:Location:0.3"),
    "nws_hurricane_warning_update_multipolygon.xml": ("areas could not be mapped", "UGC, SAME"),
    "oasis_example2_thunderstorm_polygon.xml": ("areas could not be mapped", "only geocodes of scheme SAME"),
    "oasis_example3_earthquake_update.xml": ("areas could not be mapped", "a circle without a CPEAS"),
    "taiwan_wra_reservoir_zh-tw.cap.xml": ("areas could not be mapped", "Taiwan_Geocode_100"),
}


# A Cancel of an alert never received here: recorded, and answered without a warning.
RECORDED = ["ipaws_athoc_cancel_signed.cap.xml"]


def test_every_sample_is_covered() -> None:
    assert sorted([*REFUSALS, *RECORDED]) == SAMPLES and len(SAMPLES) == 6


async def test_a_cancel_of_an_alert_never_received_is_recorded(client: AsyncClient, regions: None) -> None:
    body = (CAP_FIXTURES / RECORDED[0]).read_bytes()
    for _ in range(2):  # and the same again: the same answer
        response = await post_cap(client, body)
        assert response.status_code == 200, response.text
        assert response.json()["outcome"] in ("recorded", "duplicate") and response.json()["warning"] is None
    assert (await client.get("/api/v1/warnings")).json()["items"] == []
    events = (await client.get("/api/v1/audit/events", params={"type": "cap.received"})).json()["items"]
    assert len(events) == 1 and events[0]["data"]["outcome"] == "recorded"
    assert "AtHoc" in events[0]["data"]["unresolved_references"][0]


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_is_valid_against_the_official_schema_and_parses(name: str) -> None:
    body = (CAP_FIXTURES / name).read_bytes()
    official = etree.XMLSchema(etree.parse(str(CAP_FIXTURES / "CAP-v1.2.xsd")))
    assert official.validate(etree.fromstring(body))
    message = parse.read_alert(body, max_bytes=1_000_000)
    assert message.identifier and message.sender and message.sent.tzinfo is not None
    assert message.msg_type in ("Alert", "Update", "Cancel")


def test_signed_samples_keep_their_fields_past_the_signature() -> None:
    cancel = parse.read_alert((CAP_FIXTURES / "ipaws_athoc_cancel_signed.cap.xml").read_bytes(), max_bytes=10**6)
    assert cancel.msg_type == "Cancel" and cancel.infos == []
    assert [(r.sender, r.identifier) for r in cancel.references] == [
        ("AtHoc", "1017033100951096-517189320160225203219800")
    ]
    update = parse.read_alert((CAP_FIXTURES / "eccc_snowfall_update_signed.cap.xml").read_bytes(), max_bytes=10**6)
    assert len(update.references) == 9 and [i.language for i in update.infos] == ["en-CA", "fr-CA"]
    # No zh-CN block: the first language is read.
    assert [i.language for i in languages.chosen_infos(update)] == ["en-CA"]


def test_taiwan_sample_states_its_level_in_traditional_chinese() -> None:
    message = parse.read_alert((CAP_FIXTURES / "taiwan_wra_reservoir_zh-tw.cap.xml").read_bytes(), max_bytes=10**6)
    (info,) = languages.chosen_infos(message)
    # 一級警戒 and 紅色 in parameters, where severity alone would say yellow.
    assert info.severity == "Moderate" and levels.level_of(info) == ("red", "parameter")


@pytest.mark.parametrize("name", sorted(REFUSALS))
async def test_sample_is_refused_with_the_reason(client: AsyncClient, regions: None, name: str) -> None:
    response = await post_cap(client, (CAP_FIXTURES / name).read_bytes())
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    reason, named = REFUSALS[name]
    assert reason in problem["detail"] and named in problem["detail"], problem["detail"]
    assert problem["errors"] and all(error["loc"][:2] == ["body", "alert"] for error in problem["errors"])
    listed = await client.get("/api/v1/warnings")
    assert listed.json()["items"] == []
