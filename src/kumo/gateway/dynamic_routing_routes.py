"""Management API of dynamic routes: `/ai-gateway/gateways/{gateway}/routes[...]` (v4 envelope)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from kumo.api.body import read_json
from kumo.api.envelope import ok
from kumo.api.routing import account_router
from kumo.api.threads import blocking
from kumo.errors import InvalidRequest, NotFound
from kumo.gateway.dynamic_routing import validate_elements
from kumo.platform import platform_of
from kumo.timestamps import iso_now

router = account_router("/ai-gateway/gateways/{gateway_id}/routes")
ROUTE_NOT_FOUND = 7005  # kumo's code


def _service(request: Request):
    return platform_of(request).gateways


async def _gateway(request: Request, account_id: str, gateway_id: str) -> None:
    await blocking(platform_of(request).gateways.get, account_id, gateway_id)


async def _route(request: Request, account_id: str, gateway_id: str, route_id: str) -> dict[str, Any]:
    await _gateway(request, account_id, gateway_id)
    route = await blocking(_service(request).get_route, account_id, gateway_id, route_id)
    if route is None:
        raise NotFound(f"no dynamic route {route_id!r} in gateway {gateway_id!r}", code=ROUTE_NOT_FOUND)
    return route


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 64 or "/" in value:
        raise InvalidRequest("`name` must be 1-64 characters without '/' (it is called as model \"dynamic/<name>\")")
    return value


@router.post("")
async def create_route(request: Request, account_id: str, gateway_id: str) -> JSONResponse:
    await _gateway(request, account_id, gateway_id)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise InvalidRequest("send {name, elements}")
    name = _name(body.get("name"))
    validate_elements(body.get("elements"))
    if await blocking(_service(request).get_route, account_id, gateway_id, name, "name"):
        raise InvalidRequest(f"a route named {name!r} already exists in this gateway")
    route = await blocking(_service(request).save_route, account_id, gateway_id, uuid.uuid4().hex, name,
                           body["elements"], iso_now())
    return ok(route)


@router.get("")
async def list_routes(request: Request, account_id: str, gateway_id: str) -> JSONResponse:
    await _gateway(request, account_id, gateway_id)
    routes = await blocking(_service(request).list_routes, account_id, gateway_id)
    return ok(routes, result_info={"page": 1, "per_page": len(routes), "count": len(routes), "total_count": len(routes)})


@router.get("/{route_id}")
async def get_route(request: Request, account_id: str, gateway_id: str, route_id: str) -> JSONResponse:
    return ok(await _route(request, account_id, gateway_id, route_id))


@router.patch("/{route_id}")
async def update_route(request: Request, account_id: str, gateway_id: str, route_id: str) -> JSONResponse:
    route = await _route(request, account_id, gateway_id, route_id)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise InvalidRequest("send {name?, elements?}")
    name = _name(body["name"]) if "name" in body else route["name"]
    elements = body.get("elements", route["elements"])
    validate_elements(elements)
    if name != route["name"] and await blocking(_service(request).get_route, account_id, gateway_id, name, "name"):
        raise InvalidRequest(f"a route named {name!r} already exists in this gateway")
    return ok(await blocking(_service(request).save_route, account_id, gateway_id, route_id, name, elements, iso_now()))


@router.delete("/{route_id}")
async def delete_route(request: Request, account_id: str, gateway_id: str, route_id: str) -> JSONResponse:
    route = await _route(request, account_id, gateway_id, route_id)
    await blocking(_service(request).delete_route, account_id, gateway_id, route_id)
    return ok(route)


@router.get("/{route_id}/versions")
async def route_versions(request: Request, account_id: str, gateway_id: str, route_id: str) -> JSONResponse:
    await _route(request, account_id, gateway_id, route_id)
    return ok(await blocking(_service(request).route_versions, route_id))


@router.post("/{route_id}/deployments")
async def deploy_version(request: Request, account_id: str, gateway_id: str, route_id: str) -> JSONResponse:
    """Deploy an earlier version again (it becomes the newest version)."""
    route = await _route(request, account_id, gateway_id, route_id)
    body = await read_json(request)
    wanted = body.get("version") if isinstance(body, dict) else None
    versions = {v["version"]: v for v in await blocking(_service(request).route_versions, route_id)}
    if wanted not in versions:
        raise InvalidRequest(f"`version` must be one of {sorted(versions)}")
    return ok(await blocking(_service(request).save_route, account_id, gateway_id, route_id, route["name"],
                             versions[wanted]["elements"], iso_now()))
