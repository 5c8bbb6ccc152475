"""DeepSeek: OpenAI format; cached prompt tokens are reported as `prompt_cache_hit_tokens`."""

from __future__ import annotations

from typing import Any

from kumo.gateway.providers.base import Price, Provider, Usage, openai_usage_from_json, sse_payloads


def usage_from_json(body: Any) -> Usage:
    usage = openai_usage_from_json(body)
    hit = ((body or {}).get("usage") or {}).get("prompt_cache_hit_tokens") if isinstance(body, dict) else None
    if hit:
        usage.cached_in = int(hit)
    return usage


def usage_from_stream(text: str) -> Usage:
    usage = Usage()
    for payload in sse_payloads(text):
        if isinstance(payload, dict) and payload.get("usage"):
            usage = usage.merge(usage_from_json(payload))
    return usage


PROVIDER = Provider(
    slug="deepseek",
    base_url="https://api.deepseek.com",
    usage_from_json=usage_from_json,
    usage_from_stream=usage_from_stream,
    prices={"deepseek-chat": Price(0.27, 1.10, 0.07), "deepseek-reasoner": Price(0.55, 2.19, 0.14)},
)
