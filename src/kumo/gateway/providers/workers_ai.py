"""Workers AI through the gateway. By default the upstream is this kumo's own inference product, called in
process; `KUMO_UPSTREAM_WORKERS_AI` may point elsewhere (e.g. https://api.cloudflare.com/client/v4/accounts/{account}/ai).

Paths: `/workers-ai/@cf/...` and `/workers-ai/run/@cf/...` (Workers AI envelope), `/workers-ai/v1/chat/completions`
and `/workers-ai/v1/embeddings` (OpenAI format)."""

from __future__ import annotations

import re
from typing import Any

from kumo.gateway.providers.base import Price, Provider, Usage, openai_usage_from_json, sse_payloads

IN_PROCESS = "kumo://self/client/v4/accounts/{account}/ai"
_MODEL = re.compile(r"^(?:run/)?(@[^?]+)")


def split_path(path: str) -> tuple[dict[str, str], str]:
    """`@cf/...` is Workers AI's `run/@cf/...`; the base URL's only value is the caller's account."""
    if path.startswith("v1/") or path.startswith("run/") or path == "run":
        return {}, path
    return {}, "run/" + path


def model_of(path: str, body: Any) -> str | None:
    match = _MODEL.match(path)
    if match:
        return match.group(1)
    return body.get("model") if isinstance(body, dict) else None


def usage_from_json(body: Any) -> Usage:
    if isinstance(body, dict) and isinstance(body.get("result"), dict):
        return openai_usage_from_json(body["result"])
    return openai_usage_from_json(body)


def usage_from_stream(text: str) -> Usage:
    usage = Usage()
    for payload in sse_payloads(text):
        if isinstance(payload, dict) and payload.get("usage"):
            usage = usage.merge(openai_usage_from_json(payload))
    return usage


PROVIDER = Provider(
    slug="workers-ai",
    base_url=IN_PROCESS,
    split_path=split_path,
    credential_headers=("authorization",),
    usage_from_json=usage_from_json,
    usage_from_stream=usage_from_stream,
    model_of=model_of,
    chat_path="v1/chat/completions",
    # Cloudflare's published prices (neurons converted at $0.011 per 1,000), USD per million tokens
    prices={
        "@cf/meta/llama-3.1-8b-instruct": Price(0.282, 0.827),
        "@cf/meta/llama-3.2-1b-instruct": Price(0.027, 0.201),
        "@cf/meta/llama-3.2-3b-instruct": Price(0.051, 0.335),
        "@cf/meta/llama-3.3-70b-instruct-fp8-fast": Price(0.293, 2.253),
        "@cf/mistral/mistral-7b-instruct-v0.1": Price(0.110, 0.190),
        "@cf/baai/bge-small-en-v1.5": Price(0.020, 0.0),
        "@cf/baai/bge-base-en-v1.5": Price(0.067, 0.0),
        "@cf/baai/bge-large-en-v1.5": Price(0.204, 0.0),
    },
)
