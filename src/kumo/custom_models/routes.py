"""Custom models over HTTP (kumo's own v4 paths, beside Workers AI's): register versions, list, inspect,
promote, roll back, delete. Predictions go through Workers AI's `/ai/run/@custom/<name>`."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from kumo.api.body import read_json
from kumo.api.envelope import ok
from kumo.api.pagination import page_params
from kumo.api.routing import account_router, grant_of
from kumo.custom_models.service import CustomModelService
from kumo.errors import InvalidRequest, PermissionDenied
from kumo.platform import platform_of
from kumo.r2.credentials import check_scope
from kumo.timestamps import parse_iso

router = account_router("/ai/custom-models")

_REGISTER_FIELDS = {"version", "source", "trusted", "format"}
_CALL_FILTERS = {"version": None, "role": {"served", "shadow"}, "outcome": {"ok", "refused", "error"},
                 "caller_key": None}
_DURATION = re.compile(r"([0-9]{1,9})([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _service(request: Request) -> CustomModelService:
    return platform_of(request).custom_models


def _check_may_register(request: Request, source: Any, trusted: Any) -> None:
    """The token must be able to read the file in R2 (its R2 scopes), and to vouch for a pickle."""
    from kumo.custom_models.service import parse_source

    grant = grant_of(request)
    bucket, _ = parse_source(source)
    check_scope(grant, "GET", bucket)
    if trusted is True and grant is not None and not grant.custom_models_trusted:
        raise PermissionDenied("this API token may not register trusted versions (loading a joblib/pickle file runs"
                               " any code it contains); an operator allows it with custom_models_trusted = true on"
                               " the token", code=10000)


async def _object(request: Request, allowed: set[str]) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.", code=10001)
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidRequest(f"unknown field {unknown[0]!r}; this call takes {', '.join(sorted(allowed))}",
                             code=10001)
    return body


@router.get("")
async def list_models(request: Request, account_id: str) -> JSONResponse:
    return ok(await _service(request).list_models(account_id))


@router.get("/{name}")
async def get_model(request: Request, account_id: str, name: str) -> JSONResponse:
    return ok(await _service(request).describe(account_id, name))


@router.delete("/{name}")
async def delete_model(request: Request, account_id: str, name: str) -> JSONResponse:
    await _service(request).delete_model(account_id, name)
    return ok(None)


@router.post("/{name}/versions")
async def register_version(request: Request, account_id: str, name: str) -> JSONResponse:
    body = await _object(request, _REGISTER_FIELDS)
    if "version" not in body or "source" not in body:
        raise InvalidRequest('send {"version": "v1", "source": "r2://BUCKET/KEY"} (and "trusted": true for a '
                             'joblib/pickle file)', code=10001)
    _check_may_register(request, body["source"], body.get("trusted", False))
    result = await _service(request).register(account_id, name, body["version"], body["source"],
                                              body.get("trusted", False), body.get("format"))
    return ok(result, status=201)


@router.get("/{name}/versions")
async def list_versions(request: Request, account_id: str, name: str) -> JSONResponse:
    return ok(await _service(request).versions(account_id, name))


@router.get("/{name}/versions/{version}")
async def get_version(request: Request, account_id: str, name: str, version: str) -> JSONResponse:
    return ok(await _service(request).version(account_id, name, version))


@router.delete("/{name}/versions/{version}")
async def delete_version(request: Request, account_id: str, name: str, version: str) -> JSONResponse:
    await _service(request).delete_version(account_id, name, version)
    return ok(None)


@router.post("/{name}/promote")
async def promote(request: Request, account_id: str, name: str) -> JSONResponse:
    body = await _object(request, {"version"})
    if not isinstance(body.get("version"), str):
        raise InvalidRequest('send {"version": "v2"}: the version to serve', code=10001)
    return ok(await _service(request).promote(account_id, name, body["version"]))


@router.post("/{name}/rollback")
async def rollback(request: Request, account_id: str, name: str) -> JSONResponse:
    return ok(await _service(request).rollback(account_id, name))


@router.put("/{name}/split")
async def split(request: Request, account_id: str, name: str) -> JSONResponse:
    body = await _object(request, {"weights"})
    if "weights" not in body:
        raise InvalidRequest('send {"weights": {"v1": 90, "v2": 10}}', code=10001)
    return ok(await _service(request).split(account_id, name, body["weights"]))


@router.delete("/{name}/split")
async def end_split(request: Request, account_id: str, name: str) -> JSONResponse:
    return ok(await _service(request).split(account_id, name, None))


@router.put("/{name}/shadow")
async def set_shadow(request: Request, account_id: str, name: str) -> JSONResponse:
    body = await _object(request, {"version"})
    if not isinstance(body.get("version"), str):
        raise InvalidRequest('send {"version": "v2"}: the version to receive a copy of the traffic', code=10001)
    return ok(await _service(request).set_shadow(account_id, name, body["version"]))


@router.delete("/{name}/shadow")
async def end_shadow(request: Request, account_id: str, name: str) -> JSONResponse:
    return ok(await _service(request).set_shadow(account_id, name, None))


@router.get("/{name}/shadow")
async def shadow_report(request: Request, account_id: str, name: str) -> JSONResponse:
    raw = request.query_params.get("limit", "100")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4) or not 1 <= int(raw) <= 1000:  # "²" is a digit too
        raise InvalidRequest(f"limit {raw!r}: a whole number from 1 to 1000", code=10001)
    return ok(await _service(request).shadow_report(account_id, name, int(raw)))


def _query(request: Request, allowed: set[str]) -> dict[str, str]:
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise InvalidRequest(f"unknown query parameter {unknown[0]!r}; this call takes {', '.join(sorted(allowed))}",
                             code=10001)
    return dict(request.query_params)


def _moment(raw: str | None, name: str) -> float | None:
    """`since`/`until`: an ISO-8601 time (UTC unless it says), or how long ago, e.g. 90s, 30m, 24h, 7d."""
    if raw is None:
        return None
    ago = _DURATION.fullmatch(raw)
    if ago:
        return datetime.now(timezone.utc).timestamp() - int(ago[1]) * _SECONDS[ago[2]]
    try:
        moment = parse_iso(raw)
    except ValueError:
        raise InvalidRequest(f"{name} {raw!r}: an ISO-8601 time (2026-12-01T09:30:00Z) or how long ago (30m, 24h, "
                             "7d)", code=10001) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


@router.get("/{name}/calls")
async def call_log(request: Request, account_id: str, name: str) -> JSONResponse:
    """The model's call log, newest first: filters version, role, outcome, caller_key, since, until."""
    query = _query(request, {*_CALL_FILTERS, "since", "until", "page", "per_page"})
    match: dict[str, Any] = {}
    for key, choices in _CALL_FILTERS.items():
        if key in query:
            if choices is not None and query[key] not in choices:
                raise InvalidRequest(f"{key} {query[key]!r}: one of {', '.join(sorted(choices))}", code=10001)
            match[key] = query[key]
    match["since"], match["until"] = _moment(query.get("since"), "since"), _moment(query.get("until"), "until")
    page, per_page = page_params(query, per_page_default=50, per_page_max=1000)
    calls, info = await _service(request).call_log(account_id, name, match, page, per_page)
    return ok(calls, result_info=info)


@router.get("/{name}/compare")
async def compare(request: Request, account_id: str, name: str) -> JSONResponse:
    """Two versions side by side over recent calls: ?a=v1&b=v2[&since=24h]."""
    query = _query(request, {"a", "b", "since"})
    if "a" not in query or "b" not in query or query["a"] == query["b"]:
        raise InvalidRequest("name two different versions to compare: ?a=v1&b=v2", code=10001)
    return ok(await _service(request).compare(account_id, name, query["a"], query["b"],
                                              _moment(query.get("since"), "since")))
