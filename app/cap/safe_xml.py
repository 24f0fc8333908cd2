"""Reading an XML document safely: size first, then the parser with DTDs, entities and the network off."""

import re
from typing import Any

from lxml import etree

from app.errors import PayloadTooLarge, Unprocessable

_ROOT_START = re.compile(r"<(?![?!])")  # the first tag that is no declaration, comment or DOCTYPE
_HTML = re.compile(r"<!DOCTYPE\s+html|<html[\s>]", re.IGNORECASE)


class NotXml(Unprocessable):
    """The body is no XML document at all: an HTML page (a server's error page) or nothing. A feed
    asks for such an entry again at its next poll rather than refusing it for good (XML that is
    not well-formed is refused for good)."""


def parser() -> etree.XMLParser:
    """An lxml parser that loads or validates no DTD, expands no entity, fetches nothing and keeps
    libxml2's size limits."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def body_error(msg: str, *loc: str | int) -> dict[str, Any]:
    """One entry of a 422's `errors`, located in the request body."""
    return {"loc": ["body", *loc], "msg": msg}


def safe_xml(body: bytes, *, max_bytes: int, what: str = "The alert") -> Any:
    """The root element of an XML document, refusing oversized bodies and any DTD (so any entity)."""
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"{what} is larger than the {max_bytes:,}-byte limit.")
    if not body.strip():
        raise NotXml(f"{what} is empty; send a CAP 1.2 XML document.", errors=[body_error("the body is empty")])
    prolog, root_tag = _prolog(body)
    if _HTML.search(prolog) or _HTML.match(root_tag):
        raise NotXml(
            f"{what} is an HTML page, not XML: the server sent a web page (an error page?) in its place.",
            errors=[body_error("an HTML page, not a CAP alert")],
        )
    if "<!DOCTYPE" in prolog:  # refused before the parser sees it at all
        raise _dtd_refused(what)
    try:
        root = etree.fromstring(body, parser())
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
        errors=[body_error("DTDs are not accepted")],
    )
