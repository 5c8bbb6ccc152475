"""What a provider module gives `/compat/chat/completions` when its chat format is not OpenAI's: a translation of
one OpenAI chat request into the provider's own request, and the way back (an answer, or a stream's events, to
OpenAI chat completions). The compat layer runs whatever translation the provider carries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kumo.api.body import JsonRefused, loads
from kumo.errors import InvalidRequest

if TYPE_CHECKING:
    from kumo.gateway.providers.base import Provider


@dataclass
class Translation:
    provider: Provider
    model: str
    path: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)  # added to the caller's (e.g. the provider's key header)
    stream: bool = False
    response: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # provider JSON -> OpenAI JSON
    stream_events: Callable[[dict[str, Any]], list[dict[str, Any]]] | None = None  # provider event -> chunks


# (provider, model, OpenAI request body, the caller's headers lower-cased, stream) -> Translation
ChatTranslator = Callable[["Provider", str, dict[str, Any], dict[str, str], bool], Translation]
# (the provider's own chat request, the answer text the client already has) -> the request that continues it
ContinueAnswer = Callable[[dict[str, Any], str], dict[str, Any]]

CONTINUE_INSTRUCTION = ("Your previous message was cut off. Continue it from exactly where it stops, mid-word if "
                        "need be: write only what comes next, repeating nothing and adding no preamble.")


def continue_by_instruction(body: dict[str, Any], text: str) -> dict[str, Any]:
    """OpenAI's chat API answers a new assistant turn, whatever the last message is: the partial answer goes back
    as the assistant's message and a user message asks for the rest. The model follows that instruction well, not
    byte for byte (it may start a word over); a provider with a true prefill says so in its module."""
    messages = [*(body.get("messages") or []), {"role": "assistant", "content": text},
                {"role": "user", "content": CONTINUE_INSTRUCTION}]
    return {**body, "messages": messages}


def continue_by_prefill(body: dict[str, Any], text: str) -> dict[str, Any]:
    """A provider that continues a last assistant message (a prefill) as its own answer."""
    return {**body, "messages": [*(body.get("messages") or []), {"role": "assistant", "content": text}]}


def bearer_token(headers: dict[str, str]) -> str | None:
    """The key an OpenAI client sends (`Authorization: Bearer <key>`), for providers that want it elsewhere."""
    auth = headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


def tool_arguments(arguments: Any) -> Any:
    """A tool call's `arguments`: JSON text (OpenAI's form) or already an object."""
    if not isinstance(arguments, str):
        return arguments or {}
    try:
        return loads(arguments or "{}")
    except JsonRefused as exc:
        raise InvalidRequest(f"a tool call's `arguments` must be JSON: {exc.reason}") from None
