"""Gateways as a service: create/list/get/update/delete with Cloudflare's fields, and the settings a request
through a gateway runs with. Knows nothing of HTTP."""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable
from typing import Any

from kumo.errors import InvalidRequest, NotFound, ServiceUnavailable
from kumo.gateway.analytics import Analytics, gateway_analytics
from kumo.gateway.errors import GATEWAY_NOT_FOUND, UNAUTHORIZED, GatewayError
from kumo.gateway.settings_schema import validate_id, validate_settings
from kumo.gateway.store import GatewayStore
from kumo.timestamps import iso_now

DEFAULT_GATEWAY = "default"
DEFAULT_SETTINGS = {
    "cache_invalidate_on_update": False, "cache_ttl": 0, "collect_logs": True, "rate_limiting_interval": None,
    "rate_limiting_limit": None, "rate_limiting_technique": None,
}
GATEWAY_NOT_FOUND_API = 7002  # management API: kumo's code for a missing gateway
LOG_NOT_FOUND = 7004  # kumo's code



def gateway_object(stored: dict[str, Any]) -> dict[str, Any]:
    return {**stored, "is_default": stored["id"] == DEFAULT_GATEWAY}


class GatewayService:
    def __init__(self, store: GatewayStore, *, auto_create: bool = False, settings_ttl: float | None = None,
                 check: Callable[[str, dict[str, Any]], None] | None = None):
        self.store = store
        # what settings need beyond their shape (a model guardrails run on, a Logpush bucket): (account, settings),
        # raises a 400
        self.check = check
        self.auto_create = auto_create
        # Settings are read on every request, so they are kept in memory. One process (embedded) sees every
        # change itself: kept until changed. Nodes sharing a database re-read them after `settings_ttl` seconds.
        self.settings_ttl = settings_ttl
        self._cache: dict[tuple[str, str], tuple[dict[str, Any], float]] = {}

    def create(self, account: str, body: Any) -> dict[str, Any]:
        gateway_id = validate_id(body.get("id") if isinstance(body, dict) else None)
        settings = validate_settings(body)
        if self.check is not None:
            self.check(account, settings)
        if not self.store.create_gateway(account, gateway_id, settings, iso_now()):
            raise InvalidRequest(f"a gateway named {gateway_id!r} already exists in this account", code=7001)
        return self.get(account, gateway_id)

    def get(self, account: str, gateway_id: str) -> dict[str, Any]:
        stored = self.store.get_gateway(account, gateway_id)
        if stored is None:
            raise NotFound(f"gateway {gateway_id!r} does not exist in this account", code=GATEWAY_NOT_FOUND_API)
        return gateway_object(stored)

    def list(self, account: str, page: int, per_page: int, search: str | None) -> tuple[list[dict], dict[str, int]]:
        items = [gateway_object(g) for g in self.store.list_gateways(account, search)]
        chunk = items[(page - 1) * per_page : page * per_page]
        return chunk, {"page": page, "per_page": per_page, "count": len(chunk), "total_count": len(items)}

    def update(self, account: str, gateway_id: str, body: Any) -> dict[str, Any]:
        self.get(account, gateway_id)
        settings = validate_settings(body)
        if self.check is not None:
            self.check(account, settings)
        self.store.update_gateway(account, gateway_id, settings, iso_now())
        self._cache.pop((account, gateway_id), None)
        return self.get(account, gateway_id)

    def delete(self, account: str, gateway_id: str) -> dict[str, Any]:
        gateway = self.get(account, gateway_id)
        self.store.delete_gateway(account, gateway_id)
        self._cache.pop((account, gateway_id), None)
        return gateway

    def for_request(self, account: str, gateway_id: str, *, may_create: bool = True) -> dict[str, Any]:
        """The gateway's settings for a data-plane request (2001 when it does not exist). The `default` gateway
        (any gateway, with auto_create) is made on first use, unless `may_create` is false (an anonymous caller
        when API tokens are configured: 401)."""
        cached = self._cache.get((account, gateway_id))
        if cached is not None and (self.settings_ttl is None or cached[1] > time.monotonic()):
            return cached[0]
        try:
            stored = self.store.get_gateway(account, gateway_id)
        except ServiceUnavailable:
            if cached is None:
                raise
            return cached[0]  # the database is away: keep proxying with the settings last seen
        if stored is None:
            if not (self.auto_create or gateway_id == DEFAULT_GATEWAY):
                raise GatewayError(400, GATEWAY_NOT_FOUND,
                                   f"Gateway {gateway_id!r} does not exist: create it with `kumo gateway create "
                                   f"{gateway_id}` or the API (or start kumo with KUMO_GATEWAY_AUTO_CREATE=true)")
            if not may_create:
                raise GatewayError(401, UNAUTHORIZED,
                                   f"Unauthorized: gateway {gateway_id!r} does not exist yet, and only a request with "
                                   "`cf-aig-authorization: Bearer <API token>` for this account creates it on first "
                                   f"use (or: `kumo gateway create {gateway_id}`, or the API)")
            validate_id(gateway_id)
            self.store.create_gateway(account, gateway_id, dict(DEFAULT_SETTINGS), iso_now())
            stored = self.store.get_gateway(account, gateway_id)
        assert stored is not None
        self._cache[(account, gateway_id)] = (stored, time.monotonic() + (self.settings_ttl or 0))
        return stored

    def log_limit(self, account: str, gateway_id: str) -> tuple[int, str] | None:
        try:
            gateway = self.for_request(account, gateway_id, may_create=False)
        except GatewayError:
            return None
        if gateway.get("log_management"):
            return int(gateway["log_management"]), gateway.get("log_management_strategy") or "STOP_INSERTING"
        return None

    # ---- logs and analytics (the logs API and the dashboard) ---------------------------------------------
    def analytics(self, account: str, gateway_id: str, window: str) -> Analytics:
        self.get(account, gateway_id)
        return gateway_analytics(self.store, account, gateway_id, window)

    def explore_logs(self, account: str, gateway_id: str, query: Any, before: tuple[str, str] | None = None
                     ) -> tuple[builtins.list[dict], dict[str, Any]]:
        """The log explorer's step: newest first from the `before` cursor, a bounded number of logs looked at."""
        self.get(account, gateway_id)
        return self.store.explore_logs(account, gateway_id, query, before)

    def query_logs(self, account: str, gateway_id: str, query: Any) -> tuple[builtins.list[dict], dict[str, Any]]:
        return self.store.query_logs(account, gateway_id, query)

    def delete_logs(self, account: str, gateway_id: str, query: Any) -> int:
        return self.store.delete_logs(account, gateway_id, query)

    def log(self, account: str, gateway_id: str, log_id: str) -> dict[str, Any]:
        item = self.store.get_log(account, gateway_id, log_id)
        if item is None:
            raise NotFound(f"no log {log_id!r} in gateway {gateway_id!r}", code=LOG_NOT_FOUND)
        return item

    def log_body(self, account: str, gateway_id: str, log_id: str, which: str) -> bytes | None:
        return self.store.log_body(account, gateway_id, log_id, which)

    def annotate_log(self, account: str, gateway_id: str, log_id: str, body: Any) -> None:
        """Set a log's feedback (-1, 0, 1), score (0-100) and metadata; each may be null to clear it."""
        self.log(account, gateway_id, log_id)
        if not isinstance(body, dict):
            raise InvalidRequest("send {feedback, score, metadata}")
        changes: dict[str, Any] = {}
        if "feedback" in body:
            feedback = body["feedback"]
            if feedback is not None and (isinstance(feedback, bool) or feedback not in (-1, 0, 1)):
                raise InvalidRequest("`feedback` must be -1, 0, 1 or null")
            changes["feedback"] = int(feedback) if feedback is not None else None
        if "score" in body:
            score = body["score"]
            if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))
                                      or not 0 <= score <= 100):
                raise InvalidRequest("`score` must be a number from 0 to 100, or null")
            changes["score"] = score
        if "metadata" in body:
            metadata = body["metadata"]
            if metadata is not None and (not isinstance(metadata, dict) or
                                         not all(isinstance(v, (str, int, float, bool)) for v in metadata.values())):
                raise InvalidRequest("`metadata` must be an object of string, number or boolean values")
            changes["metadata"] = metadata
        self.store.patch_log(account, gateway_id, log_id, changes)

    # ---- dynamic routes (their rules are checked by dynamic_routing_routes and dynamic_routing) ----
    def get_route(self, account: str, gateway_id: str, key: str, by: str = "id") -> dict | None:
        return self.store.get_route(account, gateway_id, key, by)

    def list_routes(self, account: str, gateway_id: str) -> builtins.list[dict]:
        return self.store.list_routes(account, gateway_id)

    def route_versions(self, route_id: str) -> builtins.list[dict]:
        return self.store.route_versions(route_id)

    def save_route(self, account: str, gateway_id: str, route_id: str, name: str, elements: builtins.list, now: str) -> dict:
        return self.store.save_route(account, gateway_id, route_id, name, elements, now)

    def delete_route(self, account: str, gateway_id: str, route_id: str) -> bool:
        return self.store.delete_route(account, gateway_id, route_id)
