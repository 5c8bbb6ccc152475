"""Answering: the query a request asks (from `query` or the last user message), optional query rewriting by
an LLM, and chat completions grounded in the retrieved chunks, with a system prompt that numbers the sources
and asks the model to cite them. The response (or a stream's first event, `event: chunks`) lists the chunks used."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from kumo.ai.openai_compat import ChunkWriter, chat_completion, chat_request_to_input
from kumo.ai.service import AiService
from kumo.aisearch.model_calls import GatewayModels
from kumo.aisearch.errors import bad_search
from kumo.aisearch.retrieval import Hit
from kumo.api.message_content import content_text
from kumo.api.sse import NamedEvent, closed_after

TextModels = AiService | GatewayModels  # who answers: Workers AI directly, or through an AI Gateway

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant that answers questions using only the numbered sources below. "
    "Cite the sources you use as [1], [2] after the sentences they support. If the sources do not contain "
    "the answer, say that you do not know; do not make facts up."
)
DEFAULT_REWRITE_PROMPT = (
    "Rewrite the user's question as a short search query for a document search engine: keep the important "
    "terms, drop filler words, answer with the query only."
)
MAX_SOURCE_CHARS = 2000  # per chunk in the prompt: small models have small context windows
DEFAULT_MAX_TOKENS = 512
_GENERATION_KEYS = ("max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "seed",
                    "repetition_penalty", "frequency_penalty", "presence_penalty")


def check_messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise bad_search("`messages` must be a non-empty array of {role, content}")
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ("system", "developer", "user", "assistant", "tool"):
            raise bad_search("each message needs a `role` (system, developer, user, assistant or tool) and `content`")
    return messages


def query_of(body: dict[str, Any]) -> str:
    """The text to search for: `query`, or the last user message of `messages` (never both)."""
    query, messages = body.get("query"), body.get("messages")
    if query is not None and messages is not None:
        raise bad_search("give either `query` or `messages`, not both")
    if query is not None:
        if not isinstance(query, str) or not query.strip():
            raise bad_search("`query` must be a non-empty string")
        return query.strip()
    if messages is None:
        raise bad_search("give a `query` string or `messages` with a user message")
    for message in reversed(check_messages(messages)):
        if message["role"] == "user" and content_text(message.get("content")).strip():
            return content_text(message["content"]).strip()
    raise bad_search("`messages` has no user message with text to search for")


async def rewrite_query(ai: TextModels, model: str, prompt: str | None, query: str) -> str:
    result = await ai.run(model, {"messages": [{"role": "system", "content": prompt or DEFAULT_REWRITE_PROMPT},
                                               {"role": "user", "content": query}],
                                  "max_tokens": 48, "temperature": 0})
    text = (result.output.result.get("response") or "").strip().strip('"').splitlines()
    return text[0].strip() if text and text[0].strip() else query


def sources_prompt(system_prompt: str | None, hits: list[Hit]) -> str:
    blocks = [system_prompt or DEFAULT_SYSTEM_PROMPT, "", "Sources:"]
    if not hits:
        blocks.append("(no document matched the question)")
    for n, hit in enumerate(hits, start=1):
        text = hit.text if len(hit.text) <= MAX_SOURCE_CHARS else hit.text[:MAX_SOURCE_CHARS] + " ..."
        blocks.append(f"[{n}] {hit.item.key}\n{text}\n")
    return "\n".join(blocks)


def generation_input(body: dict[str, Any], system_prompt: str | None, hits: list[Hit]) -> dict[str, Any]:
    """The Workers AI text-generation input: our system prompt with the sources, then the conversation."""
    messages = [m for m in check_messages(body.get("messages"))]
    request = {"messages": [{"role": "system", "content": sources_prompt(system_prompt, hits)},
                            *({"role": m["role"], "content": content_text(m.get("content"))} for m in messages)]}
    for key in _GENERATION_KEYS:
        if body.get(key) is not None:
            request[key] = body[key]
    inputs = chat_request_to_input(request)
    inputs.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
    return inputs


async def complete(ai: TextModels, model: str, inputs: dict[str, Any],
                   chunks: list[dict]) -> tuple[dict[str, Any], str]:
    """(OpenAI chat.completion + `chunks`, the model that really ran)."""
    result = await ai.run(model, inputs)
    answer = chat_completion(model, result.output.result, inputs.get("max_tokens"))
    answer["chunks"] = chunks
    return answer, result.model


async def complete_stream(ai: TextModels, model: str, inputs: dict[str, Any],
                          chunks: list[dict]) -> tuple[AsyncGenerator[dict[str, Any] | NamedEvent, None], str]:
    """(The retrieved chunks as their own `event: chunks`, then OpenAI `chat.completion.chunk` events, as
    Cloudflare streams them; the model that really runs)."""
    served, events = await ai.stream(model, {**inputs, "stream": True})
    writer = ChunkWriter(model, include_usage=True, max_tokens=inputs.get("max_tokens"))

    async def generate() -> AsyncGenerator[dict[str, Any] | NamedEvent, None]:
        yield NamedEvent("chunks", chunks)
        async with closed_after(events):  # closing the answer stops the model
            async for event in events:
                for out in writer.chunks(event):
                    yield out

    return generate(), served
