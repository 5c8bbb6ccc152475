"""What one OpenAI `chat.completion.chunk` says, read once for every format a stream is turned into."""

from __future__ import annotations

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
    for choice in chunk.get("choices") or ():
        if not isinstance(choice, dict) or choice.get("index", 0) != 0:
            continue  # one answer per request (n > 1 is refused before the call)
        delta = choice.get("delta") or {}
        if isinstance(delta.get("content"), str):
            parts.text += delta["content"]
        for call in delta.get("tool_calls") or ():
            if isinstance(call, dict):
                fn = call.get("function") or {}
                parts.tools.append(ToolDelta(int(call.get("index", 0) or 0), call.get("id"), fn.get("name"),
                                             fn.get("arguments") or ""))
        if choice.get("finish_reason"):
            parts.finish = choice["finish_reason"]
    return parts


def usage_numbers(usage: dict[str, Any] | None) -> tuple[int, int, int]:
    """(input, output, cached input) tokens of an OpenAI usage object."""
    usage = usage or {}
    details = usage.get("prompt_tokens_details") or {}
    return (int(usage.get("prompt_tokens", 0) or 0), int(usage.get("completion_tokens", 0) or 0),
            int(details.get("cached_tokens", 0) or 0) if isinstance(details, dict) else 0)
