"""Cloudflare's v4 response envelope: `{result, success, errors, messages}`."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse

from kumo.errors import KumoError


class FastJSONResponse(JSONResponse):
    """orjson: an embeddings answer (64 x 384 floats) serialises in ~0.6 ms instead of ~14 ms."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def ok(result: Any, *, status: int = 200, result_info: dict | None = None) -> JSONResponse:
    body: dict[str, Any] = {"result": result, "success": True, "errors": [], "messages": []}
    if result_info is not None:
        body["result_info"] = result_info
    return FastJSONResponse(body, status_code=status)


def failure(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {
        "result": None,
        "success": False,
        "errors": [{"code": code, "message": message}],
        "messages": [],
    }
    return JSONResponse(body, status_code=status, headers=headers)


def from_error(error: KumoError) -> JSONResponse:
    # 4xx answers are final: tell the SDK not to retry them (it retries 408/409/429).
    headers = {"x-should-retry": "false"} if 400 <= error.status < 500 and error.status != 429 else None
    return failure(error.status, error.code, error.message, headers)
