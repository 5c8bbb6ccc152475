"""Anthropic Messages API: `x-api-key` auth, usage in `usage` (and `message_start`/`message_delta` events)."""

from __future__ import annotations

from typing import Any

from kumo.gateway.providers.base import Price, Provider, Usage, sse_payloads


def usage_from_json(body: Any) -> Usage:
    if not isinstance(body, dict):
        return Usage()
    usage = body.get("usage") or {}
    cached = int(usage.get("cache_read_input_tokens", 0) or 0)
    created = int(usage.get("cache_creation_input_tokens", 0) or 0)
    return Usage(tokens_in=int(usage.get("input_tokens", 0) or 0) + cached + created,
                 tokens_out=int(usage.get("output_tokens", 0) or 0), cached_in=cached, model=body.get("model"))


def usage_from_stream(text: str) -> Usage:
    usage = Usage()
    for event in sse_payloads(text):
        if not isinstance(event, dict):
            continue
        if event.get("type") == "message_start":
            usage = usage.merge(usage_from_json(event.get("message") or {}))
        elif event.get("type") == "message_delta":
            out = (event.get("usage") or {}).get("output_tokens")
            if out is not None:
                usage = usage.merge(Usage(tokens_out=int(out)))
    return usage


def stream_complete(text: str) -> bool:
    return "message_stop" in text


PROVIDER = Provider(
    slug="anthropic",
    base_url="https://api.anthropic.com",
    credential_headers=("x-api-key", "authorization"),
    usage_from_json=usage_from_json,
    usage_from_stream=usage_from_stream,
    stream_complete=stream_complete,
    chat_path="v1/messages",
    compat_format="anthropic",
    prices={
        "claude-opus-4": Price(15.0, 75.0, 1.50),
        "claude-sonnet-4": Price(3.0, 15.0, 0.30),
        "claude-3-7-sonnet": Price(3.0, 15.0, 0.30),
        "claude-3-5-sonnet": Price(3.0, 15.0, 0.30),
        "claude-3-5-haiku": Price(0.80, 4.0, 0.08),
        "claude-haiku-4-5": Price(1.0, 5.0, 0.10),
        "claude-3-haiku": Price(0.25, 1.25, 0.03),
        "claude-3-opus": Price(15.0, 75.0, 1.50),
    },
)
