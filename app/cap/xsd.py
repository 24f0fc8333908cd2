"""The OASIS CAP 1.2 schema: validating against it, and putting a lenient feed's elements in its order."""

from functools import lru_cache
from pathlib import Path
from typing import Any

from lxml import etree

from app.cap.safe_xml import parser

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
XMLDSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
XS = "{http://www.w3.org/2001/XMLSchema}"
SCHEMA_FILE = Path(__file__).resolve().parent / "CAP-v1.2.xsd"
MAX_SCHEMA_ERRORS = 20
# Required by the schema, used by Jiaoying for nothing (or read as this when absent): a document
# without them is taken as if they said this.
UNUSED_REQUIRED = {
    "alert": {"scope": "Public"},
    "info": {"category": "Other", "urgency": "Unknown", "severity": "Unknown", "certainty": "Unknown"},
}


def q(name: str) -> str:
    """A CAP element's qualified name, as lxml writes it: {urn:oasis:...:cap:1.2}info."""
    return f"{{{CAP_NS}}}{name}"


@lru_cache
def schema() -> etree.XMLSchema:
    """The OASIS CAP 1.2 schema, read once from the copy kept in this package."""
    return etree.XMLSchema(etree.parse(str(SCHEMA_FILE), parser()))


def schema_errors(validator: etree.XMLSchema) -> list[dict[str, Any]]:
    """What the last validation found, as a 422's errors (the first MAX_SCHEMA_ERRORS), by line."""
    return [
        {"loc": ["body", "line", error.line], "msg": error.message.replace(f"{{{CAP_NS}}}", "")}
        for error in list(validator.error_log)[:MAX_SCHEMA_ERRORS]
    ]


@lru_cache
def schema_order() -> dict[str, list[str]]:
    """Each CAP element's children in the order the schema's sequence gives them, read off the schema."""
    orders: dict[str, list[str]] = {}
    for element in etree.parse(str(SCHEMA_FILE), parser()).iter(f"{XS}element"):
        sequence = element.find(f"{XS}complexType/{XS}sequence")
        if element.get("name") and sequence is not None:
            # A child is named, or a reference to a named element (ref="cap:valueName").
            named = (child.get("name") or child.get("ref", "").rpartition(":")[2] for child in sequence)
            orders.setdefault(element.get("name"), [name for name in named if name])
    return orders


def in_schema_order(root: Any) -> tuple[Any, list[str]]:
    """A copy of the alert with every element's children in the schema's order (stable within a
    name), elements the schema does not know set aside (a signature stays, at the end), and the
    required elements Jiaoying does not use filled in where missing (see UNUSED_REQUIRED); and
    what was changed, element by element (line numbers are the document's)."""
    copy = etree.fromstring(etree.tostring(root), parser())
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
                filled = etree.Element(q(missing))
                filled.text = value
                known.append(filled)
        known.sort(key=lambda child: order.index(etree.QName(child).localname))
        for child in known + signatures:
            element.append(child)
            if child not in signatures:
                arrange(child)

    arrange(copy)
    return copy, deviations[:MAX_SCHEMA_ERRORS]
