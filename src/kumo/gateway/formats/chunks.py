"""What one OpenAI `chat.completion.chunk` says, read once for every format a stream is turned into, and the shape
every such translation shares (`StreamTranslator`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ToolDelta:
    index: int
    id: str | None
    name: str | None
    arguments: str


@dataclass
class ChunkParts:
    text: str = ""
    tools: list[ToolDelta] = field(default_factory=list)
    finish: str | None = None
    usage: dict[str, Any] | None = None


def read_chunk(chunk: Any) -> ChunkParts:
    parts = ChunkParts()
    if not isinstance(chunk, dict):
        return parts
    if isinstance(chunk.get("usage"), dict):
        parts.usage = chunk["usage"]
    choices = chunk.get("choices")
    for choice in choices if isinstance(choices, list) else ():
        if not isinstance(choice, dict) or choice.get("index", 0) != 0:
            continue  # one answer per request (n > 1 is refused before the call)
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            delta = {}
        if isinstance(delta.get("content"), str):
            parts.text += delta["content"]
        calls = delta.get("tool_calls")
        for call in calls if isinstance(calls, list) else ():
            if isinstance(call, dict):
                fn = call.get("function") or {}
                index = call.get("index")
                arguments = fn.get("arguments") if isinstance(fn, dict) else None
                parts.tools.append(ToolDelta(index if isinstance(index, int) else 0, _text(call.get("id")),
                                             _text(fn.get("name")) if isinstance(fn, dict) else None,
                                             arguments if isinstance(arguments, str) else ""))
        if isinstance(choice.get("finish_reason"), str):
            parts.finish = choice["finish_reason"]
    return parts


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def usage_numbers(usage: dict[str, Any] | None) -> tuple[int, int, int]:
    """(input, output, cached input) tokens of an OpenAI usage object."""
    usage = usage or {}
    details = usage.get("prompt_tokens_details") or {}
    return (_count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens")),
            _count(details.get("cached_tokens")) if isinstance(details, dict) else 0)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


Event = tuple[str, dict[str, Any]]  # (the event's type, its payload)


class StreamTranslator(ABC):
    """OpenAI chat chunks in, another API's stream events out. Each format says how its stream opens (once, before
    anything else), what a chunk's content becomes, what the model finishing closes, and how the stream ends with
    the usage; the end waits for the usage chunk, or for the end of a stream that finished without one. A stream
    that never finished gets no end, so the gateway's error event is its end."""

    def __init__(self, model: str):
        self.model = model
        self.started = False
        self.finish: str | None = None  # the chat finish_reason, once the model finished
        self.done = False

    def feed(self, chunk: Any) -> list[Event]:
        parts = read_chunk(chunk)
        out = self._start()
        out += self._content(parts)
        if parts.finish:
            self.finish = parts.finish
            out += self._finished()
        if parts.usage is not None and self.finish is not None:
            out += self._end(parts.usage)
        return out

    def close(self) -> list[Event]:
        """At the end of the chunks: the stream's end, if the model finished and the usage never came."""
        return self._end(None) if self.finish is not None else []

    def _start(self) -> list[Event]:
        if self.started:
            return []
        self.started = True
        return self._opening()

    def _end(self, usage: dict[str, Any] | None) -> list[Event]:
        if self.done:
            return []
        self.done = True
        return self._start() + self._closing(usage)

    # ---- what each format says ------------------------------------------------------------------------
    @abstractmethod
    def _opening(self) -> list[Event]:
        ...

    @abstractmethod
    def _content(self, parts: ChunkParts) -> list[Event]:
        ...

    def _finished(self) -> list[Event]:
        return []

    @abstractmethod
    def _closing(self, usage: dict[str, Any] | None) -> list[Event]:
        ...
