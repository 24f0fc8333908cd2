"""Reading a CAP 1.2 alert safely: size first, then XML with DTDs, entities and the network off,
then the OASIS schema, then the fields Jiaoying uses (the XML in cap.safe_xml, the schema in cap.xsd).

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
from typing import Any

from lxml import etree

from app.cap.safe_xml import body_error, safe_xml
from app.cap.xsd import CAP_NS, in_schema_order, q, schema, schema_errors
from app.errors import Unprocessable
from app.times import check_moment

# CAP times: seconds and an explicit offset (+08:00); the schema's own pattern, said plainly when missed.
CAP_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$")
TIME_FIELDS = ("sent", "effective", "onset", "expires")
# Longer sender or identifier values are not identifiers anyone means; they would not fit the key either.
MAX_KEY_CHARS = 255


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


def read_alert(body: bytes, *, max_bytes: int) -> Message:
    """A CAP 1.2 alert from its bytes: parsed safely, checked against the schema, its fields read."""
    root = safe_xml(body, max_bytes=max_bytes)
    if etree.QName(root).localname != "alert" or etree.QName(root).namespace != CAP_NS:
        found = etree.QName(root)
        where = f"namespace {found.namespace!r}" if found.namespace else "no namespace"
        raise Unprocessable(
            f"This is not a CAP 1.2 alert: the root element is <{found.localname}> in {where}; "
            f"expected <alert> in namespace {CAP_NS!r}.",
            errors=[body_error(f"root element <{found.localname}> in {where}", "alert")],
        )
    _check_times(root)
    validator = schema()
    if validator.validate(root):
        return _message(root)
    ordered, deviations = in_schema_order(root)
    if not validator.validate(ordered):
        errors = schema_errors(validator)
        first = errors[0]
        raise Unprocessable(f"The alert is not valid CAP 1.2: {first['msg']} (line {first['loc'][2]}).", errors=errors)
    message = _message(ordered, document=root)
    message.deviations = deviations
    return message


def _check_times(root: Any) -> None:
    """CAP times carry an explicit offset; a bare or 'Z' time gets its own sentence, before the
    schema's, every such time at once."""
    details, errors = [], []
    for name in TIME_FIELDS:
        for element in root.iter(q(name)):
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
            parts[:0] = [name, parent.findall(q("info")).index(element)]
        else:
            parts.insert(0, name)
        element = parent
    return parts


def _text(parent: Any, name: str) -> str | None:
    element = parent.find(q(name))
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _pairs(parent: Any, name: str) -> list[tuple[str, str]]:
    return [(_text(p, "valueName") or "", _text(p, "value") or "") for p in parent.findall(q(name))]


def _message(root: Any, *, document: Any = None) -> Message:
    identifier, sender = _text(root, "identifier") or "", _text(root, "sender") or ""
    bad = [name for name, value in (("identifier", identifier), ("sender", sender))
           if not value or len(value) > MAX_KEY_CHARS]  # fmt: skip
    if bad:
        raise Unprocessable(
            f"{' and '.join(f'<{name}>' for name in bad)} must be 1 to {MAX_KEY_CHARS} characters.",
            errors=[body_error(f"1 to {MAX_KEY_CHARS} characters", "alert", name) for name in bad],
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
        infos=[_info(index, info) for index, info in enumerate(root.findall(q("info")))],
        document=etree.tostring(root if document is None else document, encoding="unicode"),
    )


def _references(value: str | None) -> list[Reference]:
    references = []
    for triplet in (value or "").split():
        parts = triplet.split(",")
        if len(parts) != 3 or not all(parts):
            raise Unprocessable(
                f"<references> holds {triplet!r}, which is not sender,identifier,sent.",
                errors=[body_error("each reference is sender,identifier,sent", "alert", "references")],
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
                polygons=len(area.findall(q("polygon"))),
                circles=len(area.findall(q("circle"))),
                geocodes=_pairs(area, "geocode"),
            )
            for area_index, area in enumerate(info.findall(q("area")))
        ],
    )
