"""The gateway management API in Cloudflare's v4 envelope (snake_case): gateways, their URLs and logs."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from kumo.api.body import JsonRefused, loads, read_json
from kumo.api.envelope import ok
from kumo.api.pagination import page_params
from kumo.api.routing import account_router
from kumo.api.threads import blocking
from kumo.errors import InvalidRequest
from kumo.gateway.log_query import parse_log_query
from kumo.gateway.providers import PROVIDERS
from kumo.gateway.service import GatewayService
from kumo.platform import platform_of

router = account_router("/ai-gateway/gateways")


def _service(request: Request) -> GatewayService:
    return platform_of(request).gateways


def _page(request: Request) -> tuple[int, int]:
    return page_params(request.query_params)


@router.post("")
async def create_gateway(request: Request, account_id: str) -> JSONResponse:
    body = await read_json(request)
    return ok(await blocking(_service(request).create, account_id, body))


@router.get("")
async def list_gateways(request: Request, account_id: str) -> JSONResponse:
    page, per_page = _page(request)
    items, info = await blocking(_service(request).list, account_id, page, per_page,
                                 request.query_params.get("search"))
    return ok(items, result_info=info)


@router.get("/{gateway_id}")
async def get_gateway(request: Request, account_id: str, gateway_id: str) -> JSONResponse:
    return ok(await blocking(_service(request).get, account_id, gateway_id))


@router.put("/{gateway_id}")
async def update_gateway(request: Request, account_id: str, gateway_id: str) -> JSONResponse:
    body = await read_json(request)
    return ok(await blocking(_service(request).update, account_id, gateway_id, body))


@router.delete("/{gateway_id}")
async def delete_gateway(request: Request, account_id: str, gateway_id: str) -> JSONResponse:
    return ok(await blocking(_service(request).delete, account_id, gateway_id))


@router.get("/{gateway_id}/url/{provider}")
async def gateway_url(request: Request, account_id: str, gateway_id: str, provider: str) -> JSONResponse:
    await blocking(_service(request).get, account_id, gateway_id)
    if provider not in PROVIDERS and provider != "compat":
        raise InvalidRequest(f"unknown provider {provider!r}")
    base = str(request.base_url).rstrip("/")
    return ok(f"{base}/v1/{account_id}/{gateway_id}/{provider}")


# ---- logs ------------------------------------------------------------------------------------------
async def _flushed(request: Request) -> None:
    await blocking(platform_of(request).gateway_logs.flush, 5)  # read your own writes


def _public(item: dict[str, Any]) -> dict[str, Any]:
    item = dict(item)
    item["metadata"] = item.get("metadata") or "{}"  # a JSON string, as Cloudflare sends it
    return item


@router.get("/{gateway_id}/logs")
async def list_logs(request: Request, account_id: str, gateway_id: str) -> JSONResponse:
    await blocking(_service(request).get, account_id, gateway_id)
    query = parse_log_query(request.query_params)
    await _flushed(request)
    items, info = await blocking(_service(request).query_logs, account_id, gateway_id, query)
    return ok([_public(i) for i in items], result_info=info)


@router.delete("/{gateway_id}/logs")
async def delete_logs(request: Request, account_id: str, gateway_id: str) -> JSONResponse:
    await blocking(_service(request).get, account_id, gateway_id)
    query = parse_log_query(request.query_params)
    await _flushed(request)
    deleted = await blocking(_service(request).delete_logs, account_id, gateway_id, query)
    response = ok(None)
    response.headers["x-kumo-deleted"] = str(deleted)
    return response


async def _log(request: Request, account_id: str, gateway_id: str, log_id: str) -> dict[str, Any]:
    await _flushed(request)
    return await blocking(_service(request).log, account_id, gateway_id, log_id)


@router.get("/{gateway_id}/logs/{log_id}")
async def get_log(request: Request, account_id: str, gateway_id: str, log_id: str) -> JSONResponse:
    item = await _log(request, account_id, gateway_id, log_id)
    item = _public(item)
    item["request_head_complete"] = item["response_head_complete"] = True
    return ok(item)


def _body(raw: bytes | None, content_type: str | None) -> Response:
    """The stored body itself, as the SDK reads it (no envelope): JSON, or text such as an SSE stream."""
    if raw is None:
        return JSONResponse(None)
    try:
        loads(raw)
        return Response(raw, media_type="application/json")
    except JsonRefused:
        return Response(raw, media_type=content_type or "text/plain")


@router.get("/{gateway_id}/logs/{log_id}/request")
async def log_request(request: Request, account_id: str, gateway_id: str, log_id: str) -> Response:
    item = await _log(request, account_id, gateway_id, log_id)
    raw = await blocking(_service(request).log_body, account_id, gateway_id, log_id, "request")
    return _body(raw, item.get("request_content_type"))


@router.get("/{gateway_id}/logs/{log_id}/response")
async def log_response(request: Request, account_id: str, gateway_id: str, log_id: str) -> Response:
    item = await _log(request, account_id, gateway_id, log_id)
    raw = await blocking(_service(request).log_body, account_id, gateway_id, log_id, "response")
    return _body(raw, item.get("response_content_type"))


@router.patch("/{gateway_id}/logs/{log_id}")
async def patch_log(request: Request, account_id: str, gateway_id: str, log_id: str) -> JSONResponse:
    await _flushed(request)
    body = await read_json(request)
    await blocking(_service(request).annotate_log, account_id, gateway_id, log_id, body)
    return ok({})
