"""Helpers for gateway tests (the fixtures live in tests/conftest.py)."""

from __future__ import annotations

import httpx

from tests.conftest import PROVIDER_SLUGS  # noqa: F401  (re-exported for the tests that import it here)


def make_gateway(admin: httpx.Client, gateway_id: str = "gw", **settings) -> dict:
    body = {"id": gateway_id, "cache_invalidate_on_update": False, "cache_ttl": None, "collect_logs": True,
            "rate_limiting_interval": None, "rate_limiting_limit": None, **settings}
    r = admin.post("/gateways", json=body)
    assert r.status_code == 200, r.text
    return r.json()["result"]
