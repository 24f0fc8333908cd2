"""Reading a CAP 1.2 alert safely: size first, then XML with DTDs, entities and the network off,
then the OASIS schema, then the fields Jiaoying uses.

Every refusal is an AppError naming the problem: 413 over the size limit, 422 for anything else
(not XML, a DTD, another namespace, a time without its offset, a schema violation).

Strict about meaning and safety, lenient about order: real feeds put elements out of the schema's
sequence (MoWaS, Alertswiss) or add elements of their own. A document that is valid once its
elements stand in the schema's order and unknown ones are set aside is taken, and what the schema
said of it is kept as the message's deviations (recorded on the warning's timeline). Anything else
the schema finds (a required element missing, a value outside its set) is refused, every problem
named.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from lxml import etree

from app.errors import PayloadTooLarge, Unprocessable
from app.times import check_moment

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
XMLDSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
XS = "{http://www.w3.org/2001/XMLSchema}"
SCHEMA_FILE = Path(__file__).resolve().parent / "CAP-v1.2.xsd"
# CAP times: seconds and an explicit offset (+08:00); the schema's own pattern, said plainly when missed.
CAP_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$")
TIME_FIELDS = ("sent", "effective", "onset", "expires")
# Longer sender or identifier values are not identifiers anyone means; they would not fit the key either.
MAX_KEY_CHARS = 255
MAX_SCHEMA_ERRORS = 20
_ROOT_START = re.compile(r"<(?![?!])")  # the first tag that is no declaration, comment or DOCTYPE


class NotXml(Unprocessable):
    """The body is no XML document at all: an HTML page (a server's error page) or nothing. A feed
    asks for such an entry again at its next poll rather than refusing it for good (XML that is
    not well-formed is refused for good)."""


_HTML = re.compile(r"<!DOCTYPE\s+html|<html[\s>]", re.IGNORECASE)


@dataclass(frozen=True)
class Reference:
    """An earlier message named in `references`: sender, identifier and sent time, as written."""

    sender: str
    identifier: str
    sent: str


@dataclass
class Area:
    index: int
    desc: str
    polygons: int
    circles: int
    geocodes: list[tuple[str, str]]  # (valueName, value) in document order


@dataclass
class Info:
    index: int  # position among the alert's info blocks, for error locations
    language: str
    event: str
    urgency: str
    severity: str
    certainty: str
    headline: str | None
    description: str | None
    instruction: str | None
    effective: datetime | None
    onset: datetime | None
    expires: datetime | None
    parameters: list[tuple[str, str]]
    areas: list[Area]


@dataclass
class Message:
    """The parts of a CAP alert Jiaoying acts on, and the document itself for the record."""

    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    note: str | None
    references: list[Reference]
    infos: list[Info] = field(default_factory=list)
    document: str = ""
    # What the schema found that order and unknown elements explain: taken, and kept on record.
    deviations: list[str] = field(default_factory=list)


@lru_cache
def schema() -> etree.XMLSchema:
    """The OASIS CAP 1.2 schema, read once from the copy kept in this package."""
    return etree.XMLSchema(etree.parse(str(SCHEMA_FILE), _parser()))


def _parser() -> etree.XMLParser:
    # No DTD loaded or validated, no entity expanded, nothing fetched, libxml2's size limits kept.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def safe_xml(body: bytes, *, max_bytes: int, what: str = "The alert") -> Any:
    """The root element of an XML document, refusing oversized bodies and any DTD (so any entity)."""
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"{what} is larger than the {max_bytes:,}-byte limit.")
    if not body.strip():
        raise NotXml(f"{what} is empty; send a CAP 1.2 XML document.", errors=[_loc("the body is empty")])
    prolog, root_tag = _prolog(body)
    if _HTML.search(prolog) or _HTML.match(root_tag):
        raise NotXml(
            f"{what} is an HTML page, not XML: the server sent a web page (an error page?) in its place.",
            errors=[_loc("an HTML page, not a CAP alert")],
        )
    if "<!DOCTYPE" in prolog:  # refused before the parser sees it at all
        raise _dtd_refused(what)
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or 1
        raise Unprocessable(
            f"{what} is not well-formed XML: {exc.msg} (line {line}).",
            errors=[{"loc": ["body", "line", line], "msg": str(exc.msg)}],
        ) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise _dtd_refused(what)
    return root


def _prolog(body: bytes) -> tuple[str, str]:
    """The text before the root element, where a DOCTYPE stands (not inside a CDATA description),
    and the start of the root element. Only the start is read: a DOCTYPE hidden further on is still
    refused once parsed (see safe_xml)."""
    start = body[:65_536]
    if start.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    elif start[:1] == b"\x00":
        encoding = "utf-16-be"
    elif start[1:2] == b"\x00":
        encoding = "utf-16-le"
    else:
        encoding = "latin-1"  # UTF-8 and GB 18030 alike: '<' and ASCII letters are single bytes there
    text = start.decode(encoding, errors="replace")
    root = _ROOT_START.search(text)
    return (text[: root.start()], text[root.start() : root.start() + 6]) if root else (text, "")


def _dtd_refused(what: str) -> Unprocessable:
    return Unprocessable(
        f"{what} declares a DTD: DTDs are not accepted (and with them no entities or external references).",
        errors=[_loc("DTDs are not accepted")],
    )


def _loc(msg: str, *loc: str | int) -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": msg}


def _q(name: str) -> str:
    return f"{{{CAP_NS}}}{name}"


def read_alert(body: bytes, *, max_bytes: int) -> Message:
    """A CAP 1.2 alert from its bytes: parsed safely, checked against the schema, its fields read."""
    root = safe_xml(body, max_bytes=max_bytes)
    if etree.QName(root).localname != "alert" or etree.QName(root).namespace != CAP_NS:
        found = etree.QName(root)
        where = f"namespace {found.namespace!r}" if found.namespace else "no namespace"
        raise Unprocessable(
            f"This is not a CAP 1.2 alert: the root element is <{found.localname}> in {where}; "
            f"expected <alert> in namespace {CAP_NS!r}.",
            errors=[_loc(f"root element <{found.localname}> in {where}", "alert")],
        )
    _check_times(root)
    validator = schema()
    if validator.validate(root):
        return _message(root)
    ordered, deviations = _in_schema_order(root)
    if not validator.validate(ordered):
        errors = _schema_errors(validator)
        first = errors[0]
        raise Unprocessable(f"The alert is not valid CAP 1.2: {first['msg']} (line {first['loc'][2]}).", errors=errors)
    message = _message(ordered, document=root)
    message.deviations = deviations
    return message


def _schema_errors(validator: etree.XMLSchema) -> list[dict[str, Any]]:
    return [
        {"loc": ["body", "line", error.line], "msg": error.message.replace(f"{{{CAP_NS}}}", "")}
        for error in list(validator.error_log)[:MAX_SCHEMA_ERRORS]
    ]


@lru_cache
def schema_order() -> dict[str, list[str]]:
    """Each CAP element's children in the order the schema's sequence gives them, read off the schema."""
    orders: dict[str, list[str]] = {}
    for element in etree.parse(str(SCHEMA_FILE), _parser()).iter(f"{XS}element"):
        sequence = element.find(f"{XS}complexType/{XS}sequence")
        if element.get("name") and sequence is not None:
            # A child is named, or a reference to a named element (ref="cap:valueName").
            named = (child.get("name") or child.get("ref", "").rpartition(":")[2] for child in sequence)
            orders.setdefault(element.get("name"), [name for name in named if name])
    return orders


# Required by the schema, used by Jiaoying for nothing (or read as this when absent): a document
# without them is taken as if they said this.
UNUSED_REQUIRED = {
    "alert": {"scope": "Public"},
    "info": {"category": "Other", "urgency": "Unknown", "severity": "Unknown", "certainty": "Unknown"},
}


def _in_schema_order(root: Any) -> tuple[Any, list[str]]:
    """A copy of the alert with every element's children in the schema's order (stable within a
    name), elements the schema does not know set aside (a signature stays, at the end), and the
    required elements Jiaoying does not use filled in where missing (see UNUSED_REQUIRED); and
    what was changed, element by element (line numbers are the document's)."""
    copy = etree.fromstring(etree.tostring(root), _parser())
    orders = schema_order()
    deviations: list[str] = []

    def arrange(element: Any) -> None:
        parent = etree.QName(element).localname
        order = orders.get(parent)
        if order is None:
            return
        known, signatures = [], []
        latest = -1
        for child in list(element):
            name = etree.QName(child)
            if name.namespace == CAP_NS and name.localname in order:
                known.append(child)
                place = order.index(name.localname)
                if place < latest:
                    deviations.append(
                        f"line {child.sourceline}: <{name.localname}> out of the schema's order in <{parent}>"
                    )
                latest = max(latest, place)
            elif name.namespace == XMLDSIG_NS and element is copy:
                signatures.append(child)
            else:
                deviations.append(
                    f"line {child.sourceline}: <{name.localname}> is no CAP element of <{parent}>, set aside"
                )
            element.remove(child)
        for missing, value in UNUSED_REQUIRED.get(parent, {}).items():
            if not any(etree.QName(child).localname == missing for child in known):
                deviations.append(f"line {element.sourceline}: <{parent}> has no <{missing}>, taken as {value}")
                filled = etree.Element(_q(missing))
                filled.text = value
                known.append(filled)
        known.sort(key=lambda child: order.index(etree.QName(child).localname))
        for child in known + signatures:
            element.append(child)
            if child not in signatures:
                arrange(child)

    arrange(copy)
    return copy, deviations[:MAX_SCHEMA_ERRORS]


def _check_times(root: Any) -> None:
    """CAP times carry an explicit offset; a bare or 'Z' time gets its own sentence, before the
    schema's, every such time at once."""
    details, errors = [], []
    for name in TIME_FIELDS:
        for element in root.iter(_q(name)):
            value = (element.text or "").strip()
            loc = ["body", *_path(element)]
            if value and CAP_TIME.match(value):
                try:
                    check_moment(datetime.fromisoformat(value))
                except ValueError as exc:
                    details.append(f"<{name}> {value!r}: {exc}")
                    errors.append({"loc": loc, "msg": str(exc)})
            elif value:
                details.append(
                    f"<{name}> {value!r} is not a CAP time: write seconds and an explicit offset, "
                    "such as 2026-08-26T16:09:13+08:00 (no 'Z', no fractions)"
                )
                errors.append({"loc": loc, "msg": "a CAP time needs seconds and an offset such as +08:00"})
    if errors:
        raise Unprocessable("; ".join(details) + ".", errors=errors)


def _path(element: Any) -> list[str | int]:
    """Where an element sits, as a loc: ["alert", "info", 0, "expires"]."""
    parts: list[str | int] = []
    while element is not None:
        name = etree.QName(element).localname
        parent = element.getparent()
        if name == "info" and parent is not None:
            parts[:0] = [name, parent.findall(_q("info")).index(element)]
        else:
            parts.insert(0, name)
        element = parent
    return parts


def _text(parent: Any, name: str) -> str | None:
    element = parent.find(_q(name))
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _pairs(parent: Any, name: str) -> list[tuple[str, str]]:
    return [(_text(p, "valueName") or "", _text(p, "value") or "") for p in parent.findall(_q(name))]


def _message(root: Any, *, document: Any = None) -> Message:
    identifier, sender = _text(root, "identifier") or "", _text(root, "sender") or ""
    bad = [name for name, value in (("identifier", identifier), ("sender", sender))
           if not value or len(value) > MAX_KEY_CHARS]  # fmt: skip
    if bad:
        raise Unprocessable(
            f"{' and '.join(f'<{name}>' for name in bad)} must be 1 to {MAX_KEY_CHARS} characters.",
            errors=[_loc(f"1 to {MAX_KEY_CHARS} characters", "alert", name) for name in bad],
        )
    sent = _time(_text(root, "sent"))
    assert sent is not None  # the schema requires it (and _check_times its offset)
    return Message(
        identifier=identifier,
        sender=sender,
        sent=sent,
        status=_text(root, "status") or "",
        msg_type=_text(root, "msgType") or "",
        note=_text(root, "note"),
        references=_references(_text(root, "references")),
        infos=[_info(index, info) for index, info in enumerate(root.findall(_q("info")))],
        document=etree.tostring(root if document is None else document, encoding="unicode"),
    )


def _references(value: str | None) -> list[Reference]:
    references = []
    for triplet in (value or "").split():
        parts = triplet.split(",")
        if len(parts) != 3 or not all(parts):
            raise Unprocessable(
                f"<references> holds {triplet!r}, which is not sender,identifier,sent.",
                errors=[_loc("each reference is sender,identifier,sent", "alert", "references")],
            )
        references.append(Reference(*parts))
    return references


def _info(index: int, info: Any) -> Info:
    return Info(
        index=index,
        language=_text(info, "language") or "en-US",  # the schema's default
        event=_text(info, "event") or "",
        urgency=_text(info, "urgency") or "Unknown",
        severity=_text(info, "severity") or "Unknown",
        certainty=_text(info, "certainty") or "Unknown",
        headline=_text(info, "headline"),
        description=_text(info, "description"),
        instruction=_text(info, "instruction"),
        effective=_time(_text(info, "effective")),
        onset=_time(_text(info, "onset")),
        expires=_time(_text(info, "expires")),
        parameters=_pairs(info, "parameter"),
        areas=[
            Area(
                index=area_index,
                desc=_text(area, "areaDesc") or "",
                polygons=len(area.findall(_q("polygon"))),
                circles=len(area.findall(_q("circle"))),
                geocodes=_pairs(area, "geocode"),
            )
            for area_index, area in enumerate(info.findall(_q("area")))
        ],
    )
