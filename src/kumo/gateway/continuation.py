"""Mid-stream failover: a stream broke after the client got part of the answer, and the next step is asked to
continue that same answer. Its request gets the text the client has (as a prefill where the provider continues one,
else as its previous message with an instruction: each provider's `continue_answer` says which), and its stream
goes into the same response in the client's format, without the opening events the client already has.

What cannot be continued is said, never papered over: a step that reads another stream format than the client's
(the universal endpoint does not translate), a provider that cannot be asked, a request that is not a stream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from kumo.gateway.dialects import DIALECTS, Dialect
from kumo.gateway.providers.base import Provider
from kumo.gateway.providers.chat import continue_by_instruction

if TYPE_CHECKING:
    from kumo.gateway.pipeline import Call

# the path a chat request of each dialect ends with
CHAT_PATHS = {"openai": "chat/completions", "anthropic": "messages"}


@dataclass(frozen=True)
class Continuation:
    text: str  # the answer text the client has
    client_format: str  # the dialect the client reads
    reason: str  # why the stream broke


def dialect_for(provider: Provider, path: str) -> Dialect | None:
    """The dialect of this call's stream, when it is a chat stream the gateway can read."""
    suffix = CHAT_PATHS.get(provider.chat_format)
    if suffix is None or not path.rstrip("/").endswith(suffix):
        return None
    return DIALECTS[provider.chat_format]


def continue_answer(provider: Provider):
    if provider.continue_answer is not None:
        return provider.continue_answer
    return continue_by_instruction if provider.chat_format == "openai" else None


def prepare(call: Call, cont: Continuation) -> str | None:
    """Make a freshly built call for the next step continue the broken answer; why it cannot, or None."""
    slug = call.provider.slug
    dialect = dialect_for(call.provider, call.path)
    if dialect is None:
        return f"{slug} /{call.path} is not a chat stream kumo can continue"
    client_format = call.client_format or dialect.name
    if client_format != cont.client_format:
        return f"{slug} streams {client_format} events, the client reads {cont.client_format}"
    build = continue_answer(call.provider)
    if build is None:
        return f"{slug} cannot be asked to continue an answer"
    try:
        body = orjson.loads(call.body)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict) or not body.get("stream") or not isinstance(body.get("messages"), list):
        return f"the request to {slug} is not a streamed chat"
    call.body = json.dumps(build(body, cont.text)).encode()
    call.prior_text = cont.text
    call.client_format = client_format
    translate = call.response_stream
    opening = DIALECTS[client_format]
    if translate is None:
        call.response_stream = lambda chunks: without_opening(chunks, opening)
    else:
        call.response_stream = lambda chunks: without_opening(translate(chunks), opening)
    return None


async def without_opening(chunks: AsyncIterator[bytes], dialect: Dialect) -> AsyncIterator[bytes]:
    """The continuation's events without its opening ones (the client has an answer open already)."""
    opening = True
    async for chunk in chunks:
        if not opening:
            yield chunk
            continue
        kept = []
        for event in chunk.replace(b"\r\n", b"\n").split(b"\n\n"):
            if opening and event.strip() and _is_opening(event, dialect.is_opening):
                continue
            if event.strip():
                opening = False
                kept.append(event + b"\n\n")
        if kept:
            yield b"".join(kept)


def _is_opening(event: bytes, is_opening: Callable[[object], bool]) -> bool:
    data = [line[5:].strip() for line in event.split(b"\n") if line.startswith(b"data:")]
    if not data:
        return True  # a comment or a bare `event:` line before the answer
    try:
        return all(is_opening(orjson.loads(d)) for d in data)
    except orjson.JSONDecodeError:
        return False
