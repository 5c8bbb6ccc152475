"""Server-sent events as Cloudflare and OpenAI send them: `data: <json>\n\n`, ending with `data: [DONE]`; a
`NamedEvent` adds the `event: <name>` line (AI Search sends its retrieved chunks as `event: chunks`)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi.responses import StreamingResponse

from kumo.errors import KumoError

log = logging.getLogger("kumo.sse")


@dataclass(frozen=True)
class NamedEvent:
    name: str
    data: Any


def event(data: Any) -> bytes:
    if isinstance(data, NamedEvent):
        return f"event: {data.name}\n".encode() + event(data.data)
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


def sse_response(events: AsyncIterator[Any], headers: dict[str, str] | None = None,
                 transform: Callable[[Any], list[Any]] | None = None) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        try:
            async for item in events:
                for out in (transform(item) if transform else [item]):
                    yield event(out)
        except KumoError as exc:  # mid-stream: the client sees an error event, never a clean end
            yield event({"error": exc.message, "code": exc.code})
            return
        except Exception:
            log.exception("stream failed")
            yield event({"error": "the stream failed inside kumo; see the server log", "code": 10002})
            return
        yield DONE

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", **(headers or {})})
