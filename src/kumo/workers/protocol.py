"""miniflare's wrapping of a binding's request, undone: the binding's own URL arrives in `MF-URL`, its name in
`MF-Binding`, each original header as `MF-Header-<name>`; method and body are the binding's own."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.responses import JSONResponse, Response

HEADER_PREFIX = "mf-header-"


@dataclass
class BindingCall:
    binding: str
    method: str
    host: str  # the binding's own host: workers-binding.ai (AI) or vector-search (Vectorize)
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]  # the binding's original headers, lower-cased
    body: bytes

    def json_body(self) -> Any:
        """The body as JSON, or None when it is not JSON (callers answer their binding's 400)."""
        try:
            return json.loads(self.body) if self.body.strip() else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None


def is_binding_request(headers: dict[str, str]) -> bool:
    return "mf-url" in headers and "mf-binding" in headers


def decode(method: str, headers: dict[str, str], body: bytes) -> BindingCall | None:
    """The call a wrapped request carries, or None when its MF-URL is not a URL."""
    url = urlsplit(headers.get("mf-url", ""))
    if url.scheme not in ("http", "https") or not url.hostname:
        return None
    original = {k[len(HEADER_PREFIX):]: v for k, v in headers.items() if k.startswith(HEADER_PREFIX)}
    return BindingCall(binding=headers.get("mf-binding", ""), method=method, host=url.hostname,
                       path=url.path or "/", query=parse_qsl(url.query, keep_blank_values=True),
                       headers=original, body=body)


def protocol_error(status: int, code: int, message: str) -> Response:
    """An error before the binding is known: readable by both bindings' parsers (AI reads `internalCode` +
    `description`, Vectorize `code` + `error`)."""
    return JSONResponse({"internalCode": code, "description": message, "name": "KumoBindingError",
                         "code": code, "error": message, "errors": [{"code": code, "message": message}]},
                        status_code=status)
