"""Replicate: predictions (`Prefer: wait` answers with the finished one); a language model's tokens are in the
prediction's `metrics`, the model in its `model`."""

from __future__ import annotations

from typing import Any

from kumo.gateway.providers.base import Provider, Usage


def usage_from_json(body: Any) -> Usage:
    if not isinstance(body, dict):
        return Usage()
    metrics = body.get("metrics")
    if not isinstance(metrics, dict):
        metrics = {}
    model = body.get("model") if isinstance(body.get("model"), str) else None
    return Usage(tokens_in=int(metrics.get("input_token_count", 0) or 0),
                 tokens_out=int(metrics.get("output_token_count", 0) or 0), model=model)


PROVIDER = Provider(slug="replicate", base_url="https://api.replicate.com/v1", usage_from_json=usage_from_json,
                    chat_path=None)
