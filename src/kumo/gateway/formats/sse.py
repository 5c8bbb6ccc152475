"""Server-sent events, both ways: the JSON payloads of a provider's `data:` lines as they arrive, and named events
(`event: <type>` + `data: <json>`) as Anthropic's and OpenAI's Responses streams send them (`data:` events alone,
as OpenAI's chat streams send them, are kumo.api.sse's `event` and `DONE`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from kumo.api.sse import NamedEvent, event


async def json_events(upstream: AsyncIterator[bytes]) -> AsyncIterator[Any]:
    """Each `data:` line's JSON, in order; `[DONE]` and lines that are not JSON (NaN, integers over 64 bits
    included) skipped."""
    buffer = b""
    async for data in upstream:
        buffer = (buffer + data).replace(b"\r\n", b"\n")  # SSE allows CRLF line ends
        while b"\n\n" in buffer:
            raw, buffer = buffer.split(b"\n\n", 1)
            for line in raw.split(b"\n"):
                if line.startswith(b"data:"):
                    payload = line[5:].strip()
                    if not payload or payload == b"[DONE]":
                        continue
                    try:
                        parsed = orjson.loads(payload)
                    except orjson.JSONDecodeError:
                        try:  # a provider's broken UTF-8 costs a replacement character, not the event's text
                            parsed = orjson.loads(payload.decode("utf-8", "replace"))
                        except orjson.JSONDecodeError:
                            continue
                    yield parsed


def named(kind: str, payload: dict[str, Any]) -> bytes:
    return event(NamedEvent(kind, payload))
