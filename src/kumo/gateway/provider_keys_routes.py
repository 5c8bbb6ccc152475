"""Cloudflare's provider keys API (BYOK): `/ai-gateway/gateways/{gateway}/provider_configs` (v4 envelope).
Answers carry a preview of each key, never the key."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from kumo.api.body import read_json
from kumo.api.envelope import ok
from kumo.api.routing import account_router
from kumo.api.threads import blocking
from kumo.gateway.admin_routes import _page
from kumo.platform import platform_of

router = account_router("/ai-gateway/gateways/{gateway_id}/provider_configs")


async def _gateway(request: Request, account_id: str, gateway_id: str) -> None:
    await blocking(platform_of(request).gateways.get, account_id, gateway_id)  # 404 when it does not exist


@router.post("")
async def create_key(request: Request, account_id: str, gateway_id: str) -> JSONResponse:
    await _gateway(request, account_id, gateway_id)
    body = await read_json(request)
    return ok(await blocking(platform_of(request).provider_keys.create, account_id, gateway_id, body))


@router.get("")
async def list_keys(request: Request, account_id: str, gateway_id: str) -> JSONResponse:
    await _gateway(request, account_id, gateway_id)
    page, per_page = _page(request)
    items = await blocking(platform_of(request).provider_keys.list, account_id, gateway_id)
    chunk = items[(page - 1) * per_page : page * per_page]
    return ok(chunk, result_info={"page": page, "per_page": per_page, "count": len(chunk), "total_count": len(items)})


@router.delete("/{key_id}")
async def delete_key(request: Request, account_id: str, gateway_id: str, key_id: str) -> JSONResponse:
    await _gateway(request, account_id, gateway_id)
    return ok(await blocking(platform_of(request).provider_keys.delete, account_id, gateway_id, key_id))
