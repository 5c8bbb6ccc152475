"""The three Cloudflare API calls `wrangler dev` makes before it sends remote-binding traffic (with
CLOUDFLARE_API_BASE_URL pointing at kumo), and `kumo workers dev` makes the same way:

    GET  /accounts/{a}/workers/subdomain/edge-preview     -> {token, exchange_url: null}
    GET  /accounts/{a}/workers/subdomain                  -> {subdomain}
    POST /accounts/{a}/workers/scripts/{name}/edge-preview (multipart; `metadata` lists the bindings)
                                                          -> {preview_token, tail_url: null}

The preview token is a binding session (sessions.py): the account and each `vectorize` binding's index.
kumo runs no script: the uploaded modules are not read, only the bindings."""

from __future__ import annotations

import json
import secrets
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from kumo.api.envelope import ok
from kumo.api.routing import account_router
from kumo.errors import InvalidRequest
from kumo.workers.sessions import BindingSession, SessionSigner
from kumo.platform import platform_of

router = account_router("/workers")
SUBDOMAIN = "kumo"
SERVED_BINDINGS = ("ai", "vectorize")
MAX_METADATA_BYTES = 1024 * 1024


@router.get("/subdomain/edge-preview")
async def preview_session(request: Request, account_id: str) -> JSONResponse:
    # wrangler sends this back as cf-preview-upload-config-token; the preview token below is what matters
    return ok({"token": secrets.token_urlsafe(24), "exchange_url": None})


@router.get("/subdomain")
async def workers_subdomain(request: Request, account_id: str) -> JSONResponse:
    return ok({"subdomain": SUBDOMAIN})


async def _metadata(request: Request) -> dict[str, Any]:
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise InvalidRequest("send the Worker upload as multipart/form-data with a `metadata` part", code=10021)
    form = await request.form(max_part_size=MAX_METADATA_BYTES)
    part = form.get("metadata")
    if part is None:
        raise InvalidRequest("the upload has no `metadata` part", code=10021)
    raw = part.encode() if isinstance(part, str) else await part.read()
    try:
        metadata = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(f"the `metadata` part is not JSON: {exc}", code=10021) from None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("bindings", []), list):
        raise InvalidRequest("`metadata` must be an object whose `bindings` is a list", code=10021)
    return metadata


def session_from_bindings(account: str, bindings: list[Any]) -> BindingSession:
    """The session for an upload's bindings; one kumo cannot serve is refused by name."""
    indexes: dict[str, str] = {}
    for binding in bindings:
        if not isinstance(binding, dict) or not isinstance(binding.get("name"), str):
            raise InvalidRequest("each binding must be an object with a `name`", code=10021)
        kind = binding.get("type")
        if kind not in SERVED_BINDINGS:
            raise InvalidRequest(f"binding {binding['name']!r} ({kind}) cannot be served by kumo, which serves the "
                                 "`ai` and `vectorize` bindings: run it locally (drop `remote: true`)", code=10021)
        if kind == "vectorize":
            index = binding.get("index_name")
            if not isinstance(index, str) or not index:
                raise InvalidRequest(f"vectorize binding {binding['name']!r} has no `index_name`", code=10021)
            indexes[binding["name"]] = index
    return BindingSession(account, indexes)


@router.post("/scripts/{script_name}/edge-preview")
async def upload_preview(request: Request, account_id: str, script_name: str) -> JSONResponse:
    metadata = await _metadata(request)
    session = session_from_bindings(account_id, metadata.get("bindings", []))
    token = SessionSigner(platform_of(request).settings.api_tokens).mint(session)
    return ok({"preview_token": token, "tail_url": None})
