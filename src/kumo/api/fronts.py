"""What the ASGI fronts share: the products' data planes served before FastAPI's router (kumo.ai.front,
kumo.vectorize.front, kumo.gateway.front, kumo.r2.s3.front). They label requests as FastAPI's routes would,
read headers from the scope as Starlette would, and answer Cloudflare's envelope without a Response object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import orjson
from starlette.types import Scope, Send


class Template(NamedTuple):
    """What the metrics and the access log label a request by, put on `scope["route"]` (FastAPI's route objects
    have the same `path`)."""

    path: str


def plain(text: str) -> bool:
    """No control characters and no lone surrogate: a path part a front may serve. Odd ones go on to FastAPI's
    routes, whose checks refuse them."""
    return text.isprintable() and not any("\ud800" <= ch <= "\udfff" for ch in text)


def first_headers(scope: Scope) -> dict[str, str]:
    """The request's headers, names in lower case; of a repeated header the first, as Starlette's `get` gives."""
    headers: dict[str, str] = {}
    for key, value in scope["headers"]:
        headers.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
    return headers


def last_headers(scope: Scope) -> dict[str, str]:
    """The request's headers, names in lower case; of a repeated header the last (the gateway's rule)."""
    return {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}


def joined_headers(scope: Scope) -> dict[str, str]:
    """The request's headers, names in lower case; a repeated header's values joined by commas (RFC 9110)."""
    headers: dict[str, str] = {}
    for key, value in scope["headers"]:
        name = key.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[name] = f"{headers[name]},{text}" if name in headers else text
    return headers


_JSON = b"application/json"


async def send_envelope(send: Send, result: Any, headers: Mapping[str, str] | None = None) -> None:
    """A 200 with Cloudflare's success envelope around `result` (numpy arrays allowed), and extra `headers`."""
    payload = orjson.dumps({"result": result, "success": True, "errors": [], "messages": []},
                           option=orjson.OPT_SERIALIZE_NUMPY)
    raw = [(b"content-length", str(len(payload)).encode()), (b"content-type", _JSON)]
    if headers:
        raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": 200, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
