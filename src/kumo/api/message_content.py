"""A chat message's `content` as plain text: the one reading every product uses (Workers AI's runtimes, the
gateway's translations to other providers' formats, AI Search's answers)."""

from __future__ import annotations

from typing import Any


def content_text(content: Any) -> str:
    """OpenAI's forms: a string, or a list of parts of which the text parts (`{"type": "text", "text": ...}`)
    count, one per line as OpenAI-compatible servers flatten them for text-only models; images and other parts
    carry no text. Anything else (None, a number) is no text, never an error."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part["text"] for part in content
                         if isinstance(part, dict) and part.get("type", "text") == "text"
                         and isinstance(part.get("text"), str))
    return ""
