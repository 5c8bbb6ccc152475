"""`/compat/chat/completions`: one OpenAI-format API in front of every provider. A provider whose chat format is
OpenAI's needs only the model name changed; one that speaks another format carries its own translation (its
module's `chat`), which this layer runs, streams included. Answers come back as OpenAI chat completions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Callable

from kumo.api.sse import DONE, event
from kumo.errors import InvalidRequest
from kumo.gateway.formats.sse import json_events
from kumo.gateway.providers import PROVIDERS
from kumo.gateway.providers.base import Provider
from kumo.gateway.providers.chat import Translation

def split_model(model: Any) -> tuple[Provider, str]:
    if not isinstance(model, str) or "/" not in model:
        raise InvalidRequest('`model` must be "{provider}/{model}", e.g. "openai/gpt-4o-mini"')
    prefix, name = model.split("/", 1)
    for provider in PROVIDERS.values():
        if prefix in (provider.slug, provider.compat_prefix):
            if provider.chat_path is None:
                raise InvalidRequest(f"{provider.slug} is not available on /compat; use /{provider.slug}/...")
            return provider, name
    raise InvalidRequest(f"unknown provider {prefix!r} in `model`")


def translate(body: dict[str, Any], headers: dict[str, str]) -> Translation:
    provider, model = split_model(body.get("model"))
    stream = bool(body.get("stream"))
    messages = body.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) and isinstance(m.get("role"), str)
                                                  for m in messages):
        raise InvalidRequest("`messages` must be an array of {role, content}")
    if provider.chat is not None:
        try:
            return provider.chat(provider, model, body, headers, stream)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise InvalidRequest(f"this chat request cannot be translated for {provider.slug}: {exc!r}") from None
    return Translation(provider, model, provider.chat_path or "chat/completions", {**body, "model": model},
                       stream=stream)


async def translate_sse(upstream: AsyncIterator[bytes], to_chunks: Callable[[dict], list[dict]]) -> AsyncIterator[bytes]:
    """Provider SSE bytes -> OpenAI chunk SSE bytes, ending with `data: [DONE]`."""
    async for payload in json_events(upstream):
        for chunk in to_chunks(payload):
            yield event(chunk)
    yield DONE
