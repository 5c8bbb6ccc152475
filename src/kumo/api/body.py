"""The one JSON decoding every product uses: request bodies, NDJSON lines, and JSON carried in a header
(`cf-aig-metadata`) or a query (`filters`). Every mistake becomes a 400 a person can act on.

What a caller may send is JSON as JavaScript's `JSON.parse` reads it (Cloudflare runs on JavaScript), minus
what kumo cannot keep (README "Input rules"):
- strings must be Unicode: a lone UTF-16 surrogate (`"\\ud83d"`, a JS string cut inside an emoji) is refused,
  as no UTF-8 store, SQL driver or encoder can hold it, and replacing it would silently change an id or a name;
- numbers must fit a double: `1e400`, `NaN` and `Infinity` are refused; integers beyond 64 bits become doubles,
  as they do in JavaScript;
- nesting is at most MAX_DEPTH levels. Deeper JSON is refused *before* it is parsed: the parser recurses, and
  100k levels would overflow its stack.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from kumo.api.threads import blocking
from kumo.errors import InvalidRequest

MAX_DEPTH = 64
_OFF_LOOP_BYTES = 1 << 20  # bodies above this are decoded in a thread, not on the event loop
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_CHUNK = 1 << 20


class JsonRefused(ValueError):
    """The text is not JSON kumo accepts; `reason` says why, for a 400."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _deeper_than(raw: bytes, limit: int) -> bool:
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = 0
    for start in range(0, len(brackets), _CHUNK):
        chunk = np.frombuffer(brackets, np.uint8, count=min(_CHUNK, len(brackets) - start), offset=start)
        running = np.cumsum(np.where((chunk == 0x5B) | (chunk == 0x7B), 1, -1).astype(np.int32)) + depth
        if running.max() > limit:
            return True
        depth = int(running[-1])
    return False


def too_deep(raw: bytes) -> bool:
    return _deeper_than(raw, MAX_DEPTH)


def loads(raw: bytes | str) -> Any:
    """Decode JSON under the rules above, or raise JsonRefused."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if _deeper_than(data, MAX_DEPTH):
        raise JsonRefused(f"JSON is nested deeper than {MAX_DEPTH} levels")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise JsonRefused(_reason(str(exc))) from None


def _reason(message: str) -> str:
    if "surrogate" in message:
        return f"a string holds a lone UTF-16 surrogate (text cut inside a character), which kumo cannot store: {message}"
    if "infinity" in message:
        return f"a number is beyond the range of a double (e.g. 1e400): {message}"
    return message


def parse_json(raw: bytes | str, *, what: str = "The request body", code: int = 10001) -> Any:
    """`loads`, with a refusal as a 400 naming `what` was refused. Products render it in their own shape."""
    try:
        return loads(raw)
    except JsonRefused as exc:
        raise InvalidRequest(f"{what} is not valid JSON: {exc.reason}", code=code) from None


async def read_json(request: Request, *, code: int = 10001, empty: Any = ...) -> Any:
    """The request body as JSON. An empty body is a 400 unless `empty` gives what it stands for."""
    raw = await request.body()
    return await decode_body(raw, code=code, empty=empty)


async def decode_body(raw: bytes, *, code: int = 10001, empty: Any = ...) -> Any:
    if not raw.strip():
        if empty is not ...:
            return empty
        raise InvalidRequest("The request body is empty; expected a JSON object.", code=code)
    if len(raw) > _OFF_LOOP_BYTES:
        return await blocking(parse_json, raw, code=code)
    return parse_json(raw, code=code)


def describe_validation_error(exc: ValidationError | RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)
