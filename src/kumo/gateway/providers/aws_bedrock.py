"""AWS Bedrock: `/aws-bedrock/bedrock-runtime/{region}/model/{model}/invoke`. The client signs the request
with SigV4 for the original Bedrock URL; the path and body reach Bedrock unchanged, so the signature holds: the
path is sent encoded as AWS's SDKs sign it (only unreserved characters as they are: `v1:0` goes as `v1%3A0`)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from kumo.gateway.providers.base import Price, Provider, Segment, Usage, openai_usage_from_json

SERVICE = Segment("service", re.compile(r"bedrock(?:-[a-z]+){0,3}"),
                  "a Bedrock service name such as bedrock-runtime or bedrock-agent-runtime")
REGION = Segment("region", re.compile(r"[a-z]{2}(?:-[a-z]+){1,3}-[0-9]{1,2}"), "an AWS region such as us-east-1")
_MODEL = re.compile(r"model/([^/]+)/")


def model_of(path: str, body: Any) -> str | None:
    match = _MODEL.search(path)
    return unquote(match.group(1)) if match else None


def usage_from_json(body: Any) -> Usage:
    if not isinstance(body, dict):
        return Usage()
    usage = body.get("usage") or {}
    if "inputTokens" in usage:  # Converse API
        return Usage(tokens_in=int(usage.get("inputTokens", 0)), tokens_out=int(usage.get("outputTokens", 0)))
    if "input_tokens" in usage:  # Anthropic models through InvokeModel
        return Usage(tokens_in=int(usage.get("input_tokens", 0)), tokens_out=int(usage.get("output_tokens", 0)))
    return openai_usage_from_json(body)


_ACCESS_KEY = re.compile(r"Credential=([^/,\s]+)")


def sigv4_identity(name: str, value: str) -> str:
    """A SigV4 request names its credential by the access key id (and session token): the signature, the date and
    the body's hash change with every request, so a refused key would never count twice."""
    if name == "authorization":
        match = _ACCESS_KEY.search(value)
        return match.group(1) if match else value
    return "" if name in ("x-amz-date", "x-amz-content-sha256") else value


PROVIDER = Provider(
    slug="aws-bedrock",
    base_url="https://{service}.{region}.amazonaws.com",
    segments=(SERVICE, REGION),
    path_safe="/-._~",
    credential_headers=("authorization", "x-amz-security-token", "x-amz-date", "x-amz-content-sha256"),
    credential_identity=sigv4_identity,
    usage_from_json=usage_from_json,
    model_of=model_of,
    chat_path=None,
    prices={
        "anthropic.claude-3-5-sonnet": Price(3.0, 15.0),
        "anthropic.claude-3-haiku": Price(0.25, 1.25),
        "amazon.nova-pro": Price(0.80, 3.20),
        "amazon.nova-lite": Price(0.06, 0.24),
        "meta.llama3-1-8b-instruct": Price(0.22, 0.22),
    },
)
