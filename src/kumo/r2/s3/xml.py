"""S3's XML: the documents kumo answers with, and the few it reads (DeleteObjects, CompleteMultipartUpload,
CreateBucketConfiguration). Request documents are parsed by expat, which refuses entity expansion bombs."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from urllib.parse import quote

from kumo.r2 import errors

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'
_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def text(value: object) -> str:
    """Escaped element text; characters XML 1.0 cannot carry become character references, as S3 writes them."""
    escaped = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _INVALID.sub(lambda m: f"&#x{ord(m[0]):x};", escaped)


def element(name: str, value: object | None) -> str:
    return "" if value is None else f"<{name}>{text(value)}</{name}>"


def document(root: str, body: str) -> bytes:
    return (f'{HEADER}<{root} xmlns="{NS}">{body}</{root}>').encode()


def error_document(error: errors.R2Error, resource: str, request_id: str) -> bytes:
    extra = "".join(element(name, value) for name, value in error.extra.items())
    return (f"{HEADER}<Error><Code>{text(error.s3_code)}</Code><Message>{text(error.message)}</Message>{extra}"
            f"<Resource>{text(resource)}</Resource><RequestId>{request_id}</RequestId></Error>").encode()


def key_text(key: str, url_encoded: bool) -> str:
    return quote(key, safe="/") if url_encoded else key


def parse(body: bytes, root: str) -> ET.Element:
    """The document's root element (namespace dropped from every tag); MalformedXML if it is not `root`."""
    try:
        tree = ET.fromstring(body)
    except ET.ParseError:
        raise errors.MalformedXML("The XML you provided was not well-formed or did not validate against our "
                                  "published schema.") from None
    for node in tree.iter():
        if isinstance(node.tag, str) and "}" in node.tag:
            node.tag = node.tag.split("}", 1)[1]
    if tree.tag != root:
        raise errors.MalformedXML(f"Expected a <{root}> document, got <{tree.tag}>.")
    return tree


def child_text(node: ET.Element, name: str) -> str | None:
    found = node.find(name)
    return None if found is None else (found.text or "")
