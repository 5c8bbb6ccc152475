"""Cohere: `Authorization: Bearer|Token`, usage in `meta.billed_units` (v1) or `usage.billed_units` (v2)."""

from __future__ import annotations

from typing import Any

from kumo.gateway.providers.base import Price, Provider, Usage, openai_usage_from_json


def usage_from_json(body: Any) -> Usage:
    if not isinstance(body, dict):
        return Usage()
    units = (body.get("meta") or {}).get("billed_units") or (body.get("usage") or {}).get("billed_units")
    if units:
        return Usage(tokens_in=int(units.get("input_tokens", 0) or 0), tokens_out=int(units.get("output_tokens", 0) or 0))
    return openai_usage_from_json(body)


PROVIDER = Provider(
    slug="cohere",
    base_url="https://api.cohere.ai",
    usage_from_json=usage_from_json,
    chat_path="compatibility/v1/chat/completions",
    prices={"command-r-plus": Price(2.50, 10.0), "command-r": Price(0.15, 0.60), "command-a": Price(2.50, 10.0)},
)
