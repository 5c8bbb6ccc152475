"""The shape every provider module fills in: where the provider is (its base URL, and the values a caller's path
may put into it), how its credentials travel (so logs can drop them and the cache can tell callers apart), which
request headers change its answers, how to read the model and token usage from a request, a response and a
stream, how its chat format is translated for /compat, and its prices.

A provider module defines `PROVIDER = Provider(...)`; adding one = one module + its name in `providers._MODULES`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from kumo.gateway.providers.chat import ChatTranslator, ContinueAnswer


@dataclass
class Usage:
    tokens_in: int = 0
    tokens_out: int = 0
    cached_in: int = 0  # part of tokens_in served from the provider's prompt cache
    reasoning: int = 0  # part of tokens_out spent on reasoning
    model: str | None = None  # the model the provider says answered

    def merge(self, other: Usage) -> Usage:
        return Usage(
            max(self.tokens_in, other.tokens_in), max(self.tokens_out, other.tokens_out),
            max(self.cached_in, other.cached_in), max(self.reasoning, other.reasoning),
            other.model or self.model,
        )


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    cached_input: float | None = None


def sse_payloads(text: str) -> list[Any]:
    """The JSON payloads of `data:` lines in an SSE text (others, like `[DONE]`, skipped)."""
    out = []
    for line in text.splitlines():
        if line.startswith("data:"):
            data = line[5:].strip()
            if data and data != "[DONE]":
                try:
                    out.append(orjson.loads(data))
                except orjson.JSONDecodeError:
                    continue
    return out


def _openai_usage(body: Any) -> Usage:
    if not isinstance(body, dict):
        return Usage()
    usage = body.get("usage") or {}
    details_in = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
    details_out = usage.get("completion_tokens_details") or usage.get("output_tokens_details") or {}
    return Usage(
        tokens_in=int(usage.get("prompt_tokens", usage.get("input_tokens", 0)) or 0),
        tokens_out=int(usage.get("completion_tokens", usage.get("output_tokens", 0)) or 0),
        cached_in=int(details_in.get("cached_tokens", 0) or 0),
        reasoning=int(details_out.get("reasoning_tokens", 0) or 0),
        model=body.get("model"),
    )


def openai_usage_from_json(body: Any) -> Usage:
    return _openai_usage(body)


def openai_usage_from_stream(text: str) -> Usage:
    usage = Usage()
    for payload in sse_payloads(text):
        if isinstance(payload, dict):
            if payload.get("model"):
                usage = usage.merge(Usage(model=payload["model"]))
            if payload.get("usage"):
                usage = usage.merge(_openai_usage(payload))
            if payload.get("type") == "response.completed":  # the Responses API
                usage = usage.merge(_openai_usage(payload.get("response") or {}))
    return usage


def openai_stream_complete(text: str, request: Any = None) -> bool:
    """A stream that ended cleanly is complete with its `[DONE]` (or the Responses API's `response.completed`), or
    without it once every choice has its `finish_reason` and the usage chunk, when the request asked for one, came:
    the client has the whole answer, and a missing `[DONE]` alone is no reason to throw it away."""
    if "data: [DONE]" in text or "data:[DONE]" in text or '"type":"response.completed"' in text.replace(" ", ""):
        return True
    if not text.replace("\r\n", "\n").endswith("\n\n"):  # the last event itself was cut
        return False
    choices: set[Any] = set()
    finished: set[Any] = set()
    usage_seen = False
    for payload in sse_payloads(text):
        if not isinstance(payload, dict):
            continue
        usage_seen = usage_seen or bool(payload.get("usage"))
        for choice in payload.get("choices") or ():
            if isinstance(choice, dict):
                choices.add(choice.get("index", 0))
                if choice.get("finish_reason"):
                    finished.add(choice.get("index", 0))
    options = request.get("stream_options") if isinstance(request, dict) else None
    wants_usage = isinstance(options, dict) and bool(options.get("include_usage"))
    return bool(choices) and choices == finished and (usage_seen or not wants_usage)


# error codes by which providers say "this content breaks our usage policy" (OpenAI, Azure OpenAI's content filter)
POLICY_CODES = frozenset({"content_policy_violation", "content_filter", "invalid_prompt",
                          "ResponsibleAIPolicyViolation"})


def policy_refusal(status: int, body: Any) -> bool:
    """Is this error answer a refusal of the content itself? Read from the provider's error body: `error.code`,
    `error.type` or `error.innererror.code` (Azure) is one of POLICY_CODES. A context-length 400
    (`context_length_exceeded`) is not: another model may well take the request."""
    if not 400 <= status < 500 or not isinstance(body, dict):
        return False
    error = body.get("error")
    if not isinstance(error, dict):
        return False
    inner = error.get("innererror")
    codes = (error.get("code"), error.get("type"), inner.get("code") if isinstance(inner, dict) else None)
    return any(isinstance(code, str) and code in POLICY_CODES for code in codes)


def model_from_body(path: str, body: Any) -> str | None:
    return body.get("model") if isinstance(body, dict) and isinstance(body.get("model"), str) else None


@dataclass(frozen=True)
class Segment:
    """A value the caller's path puts into the provider's base URL (Azure's resource, a region...). The caller
    chooses it, so it must match `pattern` whole before it is pasted in; `rule` says what is allowed."""

    name: str
    pattern: re.Pattern[str]
    rule: str


def whole_credential(name: str, value: str) -> str:
    """A credential header names its credential by its whole value (an API key, a bearer token)."""
    return value


@dataclass(frozen=True)
class Provider:
    slug: str
    base_url: str  # may hold `{names}`: `segments` (from the caller's path) and `{account}` (see upstream.py)
    segments: tuple[Segment, ...] = ()
    # the caller's path -> (the values of `segments`, the provider's own path); by default the leading path
    # segments are the values, one per entry of `segments`, in order
    split_path: Callable[[str], tuple[dict[str, str], str]] | None = None
    # characters of the provider's own path sent as they are; the others are percent-encoded (RFC 3986's path
    # characters by default; a provider whose clients sign the encoded path, like AWS's, says which they keep)
    path_safe: str = "/:@!$&'()*+,;=-._~"
    # request headers that carry credentials: forwarded upstream, never logged or stored; the cache keys on a
    # hash of them, so callers with different keys never share an answer
    credential_headers: tuple[str, ...] = ("authorization",)
    credential_query: tuple[str, ...] = ()  # query parameters that carry credentials (Google's `?key=`)
    # (header, value) -> what of it names the credential, for the circuit breaker's per-credential circuits:
    # the whole value, except where a signature changes with every request (AWS SigV4: the access key id)
    credential_identity: Callable[[str, str], str] = whole_credential
    # request headers that change the answer beyond the body (API versions, beta flags): part of the cache key
    answer_headers: tuple[str, ...] = ()
    usage_from_json: Callable[[Any], Usage] = openai_usage_from_json
    usage_from_stream: Callable[[str], Usage] = openai_usage_from_stream
    # (the stream's text, the request's JSON) -> did it end complete (asked only of a stream that ended cleanly)
    stream_complete: Callable[[str, Any], bool] = openai_stream_complete
    model_of: Callable[[str, Any], str | None] = model_from_body
    # (status, the error answer's JSON) -> a content-policy refusal, which no fallback step may be asked to try
    policy_refusal: Callable[[int, Any], bool] = policy_refusal
    prices: dict[str, Price] = field(default_factory=dict)
    # for /compat/chat/completions: the provider's path of OpenAI-format chat, or None (see compat.py)
    chat_path: str | None = "chat/completions"
    chat: ChatTranslator | None = None  # a chat format other than OpenAI's: the translation both ways
    compat_prefix: str | None = None  # the `model` prefix in /compat if it differs from the slug
    # the format of its chat streams (a dialect in gateway/dialects.py reads "openai" and "anthropic")
    chat_format: str = "openai"
    # (its own chat request, the answer text a client already has) -> the request that makes it continue that
    # answer, after a stream broke elsewhere (gateway/continuation.py); None: it cannot be asked to. By default an
    # OpenAI-format provider is asked by instruction (OpenAI's chat API has no assistant prefill)
    continue_answer: ContinueAnswer | None = None

    def price_of(self, model: str | None) -> Price | None:
        if not model:
            return None
        if model in self.prices:
            return self.prices[model]
        # dated snapshots ("gpt-4o-2024-08-06") are priced as their family; longest prefix wins
        best = None
        for name, price in self.prices.items():
            if model.startswith(name) and (best is None or len(name) > len(best[0])):
                best = (name, price)
        return best[1] if best else None
