"""Reading a chat stream event by event, in the formats the gateway can continue: OpenAI chat chunks and Anthropic
Messages events. A dialect says what one event carries (answer text, the first sign of an answer, a provider error)
and which events a continuation must not repeat to a client that already has them (the answer's opening).

One registry, by name: a provider's `chat_format` picks its dialect (providers/base.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(slots=True)
class Piece:
    """What one event says about the answer."""

    text: str = ""  # answer text it adds
    content: bool = False  # an answer has started (text, a tool call, a finish): the first-token deadline is met
    error: str | None = None  # the provider reports a failure inside the stream
    resumable: bool = True  # false once the answer holds what a text prefill cannot carry on (tool calls, n > 1)
    finished: bool = False  # the answer itself has ended (only usage or the end marker may follow)


class Dialect(Protocol):
    name: str

    def read(self, payload: Any) -> Piece: ...
    def is_opening(self, payload: Any) -> bool: ...


class OpenAIChat:
    """`chat.completion.chunk` events (`data: {...}`, then `data: [DONE]`)."""

    name = "openai"

    def read(self, payload: Any) -> Piece:
        if not isinstance(payload, dict):
            return Piece(error="an event that is not a JSON object")
        if payload.get("error") is not None:
            error = payload["error"]
            message = error.get("message") if isinstance(error, dict) else error
            return Piece(error=f"the provider reported an error mid-stream: {str(message)[:200]}")
        piece = Piece()
        choices = payload.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if not isinstance(choice, dict):
                continue
            if choice.get("index", 0) != 0:
                piece.resumable, piece.content = False, True
                continue
            delta = _object(choice.get("delta"))
            text = delta.get("content")
            if isinstance(text, str) and text:
                piece.text += text
                piece.content = True
            if delta.get("tool_calls") or delta.get("function_call"):
                piece.resumable, piece.content = False, True
            if delta.get("reasoning_content") or delta.get("reasoning"):
                piece.content = True
            if choice.get("finish_reason"):
                piece.content, piece.finished = True, True
        return piece

    def is_opening(self, payload: Any) -> bool:
        """A chunk that only announces the assistant's turn (`{"role": "assistant", "content": ""}`)."""
        if not isinstance(payload, dict) or payload.get("usage"):
            return False
        choices = payload.get("choices")
        if not isinstance(choices, list) or not choices:
            return False
        for choice in choices:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if not isinstance(delta, dict) or choice.get("finish_reason"):
                return False
            if any(v for k, v in delta.items() if k != "role"):
                return False
        return True


class AnthropicMessages:
    """Messages API events: message_start, content_block_start/delta/stop, message_delta, message_stop."""

    name = "anthropic"

    def read(self, payload: Any) -> Piece:
        if not isinstance(payload, dict):
            return Piece(error="an event that is not a JSON object")
        kind = payload.get("type")
        if kind == "error":
            error = payload.get("error")
            message = error.get("message") if isinstance(error, dict) else error
            return Piece(error=f"the provider reported an error mid-stream: {str(message)[:200]}")
        if kind == "content_block_start":
            block = _object(payload.get("content_block"))
            if payload.get("index", 0) != 0 or block.get("type") != "text":
                return Piece(content=True, resumable=False)
            return Piece(text=block.get("text") or "", content=bool(block.get("text")))
        if kind == "content_block_delta":
            delta = _object(payload.get("delta"))
            if delta.get("type") == "text_delta" and payload.get("index", 0) == 0:
                text = delta.get("text") or ""
                return Piece(text=text, content=bool(text))
            return Piece(content=True, resumable=False)
        if kind == "message_delta":
            return Piece(content=True, finished=True)
        return Piece()

    def is_opening(self, payload: Any) -> bool:
        """`message_start` and the start of the first text block: the client has both already."""
        if not isinstance(payload, dict):
            return False
        if payload.get("type") == "message_start":
            return True
        return payload.get("type") == "content_block_start" and payload.get("index", 0) == 0


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


DIALECTS: dict[str, Dialect] = {d.name: d for d in (OpenAIChat(), AnthropicMessages())}
