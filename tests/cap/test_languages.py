"""CAP info blocks per language: the Chinese block gives the warning's own texts, every other
language its `translations`; an export carries one info block per language and comes back the same."""

from httpx import AsyncClient
from lxml import etree

from app.cap import mapping, parse
from tests.cap.documents import alert, cpeas, info, moment, post_cap, reference
from tests.cap.test_export import NS, OFFICIAL, exported, text
from tests.factories import TOWNSHIP, VILLAGE, issue

UG = {
    "title": "قاتتىق يامغۇر قىزىل ئاگاھلاندۇرۇشى",
    "description": "كەلگۈسى 6 سائەت ئىچىدە قاتتىق يامغۇر ياغىدۇ.",
    "instruction": "پەس جايلاردىكى ئادەملەرنى يۆتكەڭ.",
}
KK = {"title": "نوسەر جاۋىن قىزىل ەسكەرتۋى", "instruction": "تومەن جەردەگى ادامداردى كوشىرىڭىز."}
RED = (("预警级别", "红色"),)
ORANGE = (("预警级别", "橙色"),)


def uyghur(language: str = "ug", **fields: object) -> str:
    """An info block in Uyghur, as the zh-CN one but for its texts."""
    texts = {"headline": UG["title"], "description": UG["description"], "instruction": UG["instruction"]}
    return info(language=language, **({"parameters": RED} | texts | fields))  # type: ignore[arg-type]


async def test_each_language_s_block_gives_its_translation(client: AsyncClient, regions: None) -> None:
    # The Uyghur block first: the Chinese one still gives the warning's own fields.
    kazakh = info(
        language="kk-Arab-CN", headline=KK["title"], description=None, instruction=KK["instruction"], parameters=RED
    )
    english = info(language="en-US", headline="Dabancheng red rainstorm warning", description=None, instruction=None)
    chinese = info(headline="达坂城区暴雨红色预警", parameters=RED)
    response = await post_cap(client, alert(uyghur("ug-CN"), chinese, kazakh, english))
    assert response.status_code == 201, response.text
    warning = response.json()
    assert (warning["title"], warning["level"], warning["instruction"]) == (
        "达坂城区暴雨红色预警",
        "red",
        "转移低洼地带人员。",
    )
    assert warning["translations"] == {"ug": UG, "kk": KK, "en": {"title": "Dabancheng red rainstorm warning"}}
    shown = (await client.get(f"/api/v1/warnings/{warning['id']}")).json()
    assert shown["translations"] == warning["translations"]


async def test_chinese_blocks_in_another_script_are_no_translation(client: AsyncClient, regions: None) -> None:
    traditional = info(language="zh-TW", headline="達坂城區暴雨紅色預警", parameters=RED)
    response = await post_cap(client, alert(info(parameters=RED), traditional, uyghur()))
    assert response.status_code == 201, response.text
    assert response.json()["translations"] == {"ug": UG}
    alone = await post_cap(client, alert(info(parameters=RED)))
    assert alone.status_code == 201 and alone.json()["translations"] == {}


async def test_a_translation_too_long_is_cut_and_the_alert_taken(client: AsyncClient, regions: None) -> None:
    long = "قاتتىق يامغۇر " * 30
    response = await post_cap(client, alert(info(parameters=RED), uyghur(headline=long, instruction="ي" * 600)))
    assert response.status_code == 201, response.text
    texts = response.json()["translations"]["ug"]
    assert len(texts["title"]) == 200 and texts["title"].endswith("…") and len(texts["instruction"]) == 500


async def test_several_levels_take_the_blocks_standing_where_theirs_do(client: AsyncClient, regions: None) -> None:
    orange_ug = "قاتتىق يامغۇر ئاپېلسىن رەڭلىك ئاگاھلاندۇرۇشى"
    blocks = (
        info(areas=(cpeas(TOWNSHIP),), parameters=ORANGE),
        info(areas=(cpeas(VILLAGE),), parameters=RED),
        uyghur(areas=(cpeas(TOWNSHIP),), parameters=ORANGE, headline=orange_ug),
        uyghur(areas=(cpeas(VILLAGE),)),
        info(language="en-US", headline="Rainstorm warning", parameters=ORANGE),  # one block for two warnings
    )
    response = await post_cap(client, alert(*blocks))
    assert response.status_code == 201, response.text
    made = [(await client.get(f"/api/v1/warnings/{id_}")).json() for id_ in response.json()["warnings"]]
    assert [(w["level"], w["translations"]) for w in made] == [
        ("orange", {"ug": UG | {"title": orange_ug}}),
        ("red", {"ug": UG}),
    ]


def test_only_the_first_tag_and_ten_languages_are_read() -> None:
    others = [info(language=f"x{chr(97 + n)}", headline=f"t{n}") for n in range(12)]
    body = alert(info(), uyghur("ug"), uyghur("ug-CN", headline="another"), *others, info(language="x-klingon"))
    (mapped,) = mapping.warnings_of(parse.read_alert(body, max_bytes=10**6))
    assert mapped.data.translations is not None
    assert list(mapped.data.translations) == ["ug", *(f"x{chr(97 + n)}" for n in range(9))]
    assert mapped.data.translations["ug"].title == UG["title"]


async def test_a_cap_update_has_the_update_s_translations(client: AsyncClient, regions: None) -> None:
    first = moment()
    posted = await post_cap(client, alert(info(parameters=RED), uyghur(), sent=first))
    assert posted.status_code == 201, posted.text
    lifted = "قاتتىق يامغۇر ئاگاھلاندۇرۇشى تۆۋەنلىتىلدى"
    update = alert(
        info(parameters=ORANGE), uyghur(headline=lifted, description=None, instruction=None, parameters=ORANGE),
        msg_type="Update", references=reference(first),
    )  # fmt: skip
    updated = await post_cap(client, update)
    assert updated.status_code == 201, updated.text
    assert updated.json()["translations"] == {"ug": {"title": lifted}}
    assert (await client.get(f"/api/v1/warnings/{posted.json()['id']}")).json()["translations"] == {"ug": UG}


async def test_export_has_an_info_block_per_language_and_comes_back_the_same(
    client: AsyncClient, regions: None
) -> None:
    posted = await post_cap(client, alert(info(parameters=RED, areas=(cpeas(TOWNSHIP), cpeas(VILLAGE))), uyghur()))
    assert posted.status_code == 201, posted.text
    warning = posted.json()
    body, root = await exported(client, warning["id"])  # valid against the official schema
    infos = root.findall("cap:info", NS)
    assert [text(block, "cap:language") for block in infos] == ["zh-CN", "ug"]
    facts = ("category", "event", "urgency", "severity", "certainty", "expires")

    def said(block: etree._Element) -> tuple[object, ...]:
        areas = [etree.tostring(area) for area in block.findall("cap:area", NS)]
        return (*(text(block, f"cap:{name}") for name in facts), areas)

    assert said(infos[1]) == said(infos[0]) and len(infos[1].findall("cap:area", NS)) == 2
    assert [text(infos[1], f"cap:{name}") for name in ("headline", "description", "instruction")] == list(UG.values())
    assert text(infos[0], "cap:headline") == warning["title"]
    (mapped,) = mapping.warnings_of(parse.read_alert(body, max_bytes=10**6))
    assert mapped.data.translation_texts() == {"ug": UG} and mapped.data.title == warning["title"]
    relayed = await post_cap(client, body.replace(b"jiaoying@127.0.0.1", b"hub.example.cn"))
    assert relayed.status_code == 201, relayed.text
    assert relayed.json()["translations"] == {"ug": UG} and relayed.json()["level"] == "red"


async def test_an_issued_warning_exports_its_translations(client: AsyncClient, regions: None) -> None:
    # Kazakh is tagged in the Arabic script it is written in here (a bare kk means Cyrillic).
    warning = await issue(client, translations={"kk": KK, "ug": {"title": UG["title"]}})
    body, root = await exported(client, warning["id"])
    infos = root.findall("cap:info", NS)
    assert [text(block, "cap:language") for block in infos] == ["zh-CN", "kk-Arab", "ug"]
    assert infos[1].find("cap:description", NS) is None and text(infos[2], "cap:headline") == UG["title"]
    assert OFFICIAL.validate(root)
    (mapped,) = mapping.warnings_of(parse.read_alert(body, max_bytes=10**6))
    assert mapped.data.translation_texts() == {"kk": KK, "ug": {"title": UG["title"]}}
