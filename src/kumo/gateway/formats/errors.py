"""Errors as each API's SDK reads them: OpenAI's `{"error": {...}}` and Anthropic's `{"type": "error", ...}`."""

from __future__ import annotations

from typing import Any

OPENAI_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 429: "rate_limit_error"}
ANTHROPIC_TYPES = {**OPENAI_TYPES, 413: "request_too_large"}


def openai_error(status: int, message: str, code: Any = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": OPENAI_TYPES.get(status, "api_error"), "param": None, "code": code}}


def anthropic_error(status: int, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": ANTHROPIC_TYPES.get(status, "api_error"), "message": message}}
