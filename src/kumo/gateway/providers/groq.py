"""Groq: OpenAI's format; without `stream_options`, a stream's usage comes in the last chunk's `x_groq.usage`."""

from __future__ import annotations

from kumo.gateway.providers.base import Price, Provider, Usage, openai_usage_from_json, openai_usage_from_stream, \
    sse_payloads


def usage_from_stream(text: str) -> Usage:
    usage = openai_usage_from_stream(text)
    for payload in sse_payloads(text):
        if isinstance(payload, dict) and isinstance(payload.get("x_groq"), dict) and payload["x_groq"].get("usage"):
            usage = usage.merge(openai_usage_from_json(payload["x_groq"]))
    return usage


PROVIDER = Provider(
    slug="groq",
    base_url="https://api.groq.com/openai/v1",
    usage_from_stream=usage_from_stream,
    prices={
        "llama-3.3-70b-versatile": Price(0.59, 0.79),
        "llama-3.1-8b-instant": Price(0.05, 0.08),
        "openai/gpt-oss-120b": Price(0.15, 0.75),
        "openai/gpt-oss-20b": Price(0.10, 0.50),
    },
)
