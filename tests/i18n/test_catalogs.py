"""The message catalogs: every text people receive or read is in them, Uyghur and Kazakh give each
one with the same fields, a county's folder corrects or adds without code, and SMS are measured as
the network counts them."""

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from app import i18n
from app.notify import templates

CATALOGS = Path(i18n.__file__).parent / "catalogs"
ROOT = Path(__file__).parents[2]
FIELDS = re.compile(r"\{\w+\}")


def ids(path: Path) -> set[str]:
    with path.open("rb") as source:
        return {m.id for m in read_po(source) if isinstance(m.id, str) and m.id}


@pytest.fixture
def county(tmp_path: Path) -> Iterator[Path]:
    """A county's catalog folder: write its files, then `i18n.configure(county)`."""
    yield tmp_path
    i18n.configure(None)


def test_the_template_holds_every_text_in_the_code(tmp_path: Path) -> None:
    extracted = tmp_path / "messages.pot"
    subprocess.run(
        [Path(sys.executable).parent / "pybabel", "-q", "extract", "-F", "babel.cfg", "-k", "N_", "-k", "tr",
         "-k", "tr_plain", "--no-location", "-o", extracted, "."],
        cwd=ROOT, check=True,
    )  # fmt: skip
    assert ids(extracted) == ids(CATALOGS / "messages.pot"), "run `make catalogs`"


@pytest.mark.parametrize("lang", ["ug", "kk"])
def test_uyghur_and_kazakh_translate_every_text_with_the_same_fields(lang: str) -> None:
    with (CATALOGS / f"{lang}.po").open("rb") as source:
        catalog = read_po(source)
    entries = [m for m in catalog if isinstance(m.id, str) and m.id]
    assert {m.id for m in entries} == ids(CATALOGS / "messages.pot")
    assert [m.id for m in entries if not m.string] == []
    assert [m.id for m in entries if sorted(FIELDS.findall(m.id)) != sorted(FIELDS.findall(str(m.string)))] == []
    assert i18n.catalog(lang).direction == "rtl"


def test_a_county_corrects_a_text_and_adds_a_language_without_code(county: Path) -> None:
    (county / "ug.po").write_text('msgid "收到请点 "\nmsgstr "تاپشۇرۇۋالسىڭىز بېسىڭ "\n', encoding="utf-8")
    (county / "ky.po").write_text('msgid "红色"\nmsgstr "кызыл"\n', encoding="utf-8")
    i18n.configure(county)
    assert "ky" in i18n.languages() and i18n.catalog("ky")("红色") == "кызыл"
    assert i18n.catalog("ug")("收到请点 ") == "تاپشۇرۇۋالسىڭىز بېسىڭ "
    assert i18n.catalog("ug")("蓝色") not in ("", "蓝色")  # the shipped entries stay
    # A language nobody has a catalog for reads Chinese.
    assert i18n.catalog("fr")("红色") == "红色"


def test_a_county_slip_is_left_out_and_never_stops_a_message(county: Path) -> None:
    """An entry whose fields differ from its id's, or a file that cannot be read (saved in GBK, say),
    is left out with a warning: the shipped words go instead, and nothing stops sending."""
    (county / "ug.po").write_text(
        'msgid "{first}等{count}地"\nmsgstr "{frist} قاتارلىق {count} جاي"\n\n'
        'msgid "{drill}{hazard}{level}预警"\nmsgstr "{drill}{hazard.name} {level}"\n\n'
        'msgid "红色"\nmsgstr "قىزىل!"\n',
        encoding="utf-8",
    )
    (county / "kk.po").write_bytes('msgid "红色"\nmsgstr "红的"\n'.encode("gbk"))
    i18n.configure(county)
    shipped = i18n.catalog("ug").messages
    assert (
        templates.area_label(["甲村", "乙村"], "ug").startswith("甲村") and "قاتارلىق" in shipped["{first}等{count}地"]
    )
    assert templates.headline("red", "暴雨", "actual", "ug") == "暴雨 قىزىل! ئاگاھلاندۇرۇشى"
    assert i18n.catalog("kk")("红色") not in ("红色", "红的")  # the shipped Kazakh stands
    # A translation that cannot be filled in at all gives way to the Chinese.
    assert i18n.Catalog("ug", {"{a}村": "{a!z}"}, "rtl")("{a}村", a="甲") == "甲村"


def test_a_language_a_county_adds_in_arabic_script_reads_right_to_left(county: Path) -> None:
    (county / "ky.po").write_text('msgid ""\nmsgstr "Language: ky_Arab\\n"\n\nmsgid "红色"\nmsgstr "قىزىل"\n',
                                  encoding="utf-8")  # fmt: skip
    i18n.configure(county)
    assert i18n.catalog("ky").direction == "rtl"
    # A language stored before its catalog was removed reads as Chinese.
    assert i18n.catalog("ar").language == "zh" and i18n.catalog("ar").direction == "ltr"


def test_sms_are_measured_in_the_units_the_network_counts() -> None:
    assert templates.sms_units("收到") == 2 and templates.sms_units("تاپشۇرۇۋالدىم") == 13
    assert templates.sms_units("🌧") == 2  # beyond the basic plane: two UTF-16 units
    for lang in i18n.languages():
        text = templates.alert_sms(signature="叫应", level="red", hazard="暴雨", mode="exercise", area="艾维尔沟村" * 5,
                                   instruction="🌧立即转移" * 40, link_length=60, lang=lang)  # fmt: skip
        assert templates.sms_units(text) - len(templates.LINK) + 60 <= templates.SMS_MAX, lang
        assert text.endswith(templates.LINK)


@pytest.mark.parametrize("lang", ["zh", "ug", "kk"])
@pytest.mark.parametrize("signature", ["叫应", "达坂城区应急管理局"])
@pytest.mark.parametrize("mode", ["actual", "exercise"])
def test_every_sms_fits_two_parts_in_every_language(lang: str, signature: str, mode: str) -> None:
    """Uyghur and Kazakh take more units than Chinese for the same words: the lists, then the
    headline give way, never the link; nothing is left with a stray comma or empty brackets."""
    link = len("https://yjj.dabancheng.gov.cn/jiaoying/ack/") + 28
    villages = [f"{name}村委会" for name in ("艾维尔沟", "工人新村", "七一平峒", "新街", "达坂城社区")]
    common = {"signature": signature, "link_length": link, "lang": lang}
    texts = [
        templates.alert_sms(level="red", hazard="暴雨", mode=mode, area="艾维尔沟街道工人新村社区居委会等3地",
                            instruction="立即转移河道沿岸和低洼地带人员" * 3, **common),
        templates.escalation_sms(level="red", hazard="暴雨", mode=mode, unreached=villages,
                                 uncovered=["八家户村委会"], **common),
        templates.hazard_sms(urgent=True, place="艾维尔沟街道工人新村社区居委会", category="山体滑坡",
                             detail="后山出现长约30米裂缝" * 5, ask="escalate", **common),
        templates.report_link_sms(name="古丽努尔·阿不都热合曼", place="艾维尔沟街道工人新村社区居委会", **common),
    ]  # fmt: skip
    for text in texts:
        assert templates.sms_units(text) - len(templates.LINK) + link <= templates.SMS_MAX, text
        assert text.endswith(templates.LINK)
        assert "، ،" not in text and "，，" not in text and ": ،" not in text and "：，" not in text
    notice = templates.closing_text(signature=signature, kind="lifting", level="red", hazard="暴雨", mode=mode,
                                    area="艾维尔沟村" * 10, reason="雨势减弱" * 20, lang=lang)  # fmt: skip
    assert templates.sms_units(notice) <= templates.SMS_MAX and "（）" not in notice and "()" not in notice
