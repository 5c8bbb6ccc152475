"""Cache (hit/miss/skip/ttl/custom key, streams replayed), rate limits (fixed, sliding, exact under
concurrency), retries with backoff and Retry-After, timeouts and network errors."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from kumo.gateway.cache import CachedResponse, MemoryCache
from kumo.gateway.ratelimit import MemoryRateLimiter
from tests.gateway.conftest import make_gateway

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "cache me"}]}


def post(gw_server, acct, body=BODY, gateway="gw", headers=None, path="openai/chat/completions", **kw):
    return httpx.post(f"{gw_server.url}/v1/{acct}/{gateway}/{path}", json=body,
                      headers={"authorization": "Bearer k", **(headers or {})}, timeout=30, **kw)


def test_cache_hit_miss_skip_and_key(gw_server, fake, admin, acct):
    make_gateway(admin, cache_ttl=300)
    before = len(fake.requests)
    first = post(gw_server, acct)
    second = post(gw_server, acct)
    assert first.headers["cf-aig-cache-status"] == "MISS" and second.headers["cf-aig-cache-status"] == "HIT"
    assert second.json() == first.json() and len(fake.requests) == before + 1
    other = post(gw_server, acct, body={**BODY, "temperature": 0.1})
    assert other.headers["cf-aig-cache-status"] == "MISS"
    skipped = post(gw_server, acct, headers={"cf-aig-skip-cache": "true"})
    assert "cf-aig-cache-status" not in skipped.headers and len(fake.requests) == before + 3
    legacy = post(gw_server, acct, headers={"cf-skip-cache": "true"})
    assert "cf-aig-cache-status" not in legacy.headers
    k1 = post(gw_server, acct, body={**BODY, "n": 1}, headers={"cf-aig-cache-key": "mine"})
    k2 = post(gw_server, acct, body={**BODY, "n": 2}, headers={"cf-aig-cache-key": "mine"})
    assert k1.headers["cf-aig-cache-status"] == "MISS" and k2.headers["cf-aig-cache-status"] == "HIT"
    logs = admin.get("/gateways/gw/logs", params={"cached": "true"}).json()["result"]
    assert len(logs) == 2 and all(l["cached"] for l in logs)


def test_cache_ttl_header_and_custom_key_without_gateway_cache(gw_server, admin, acct):
    make_gateway(admin)  # caching off
    assert "cf-aig-cache-status" not in post(gw_server, acct).headers
    a = post(gw_server, acct, headers={"cf-aig-cache-ttl": "120"})
    b = post(gw_server, acct, headers={"cf-aig-cache-ttl": "120"})
    assert (a.headers["cf-aig-cache-status"], b.headers["cf-aig-cache-status"]) == ("MISS", "HIT")
    c = post(gw_server, acct, body={**BODY, "x": 1}, headers={"cf-aig-cache-key": "k"})
    d = post(gw_server, acct, body={**BODY, "x": 1}, headers={"cf-aig-cache-key": "k"})
    assert (c.headers["cf-aig-cache-status"], d.headers["cf-aig-cache-status"]) == ("MISS", "HIT")


def test_update_invalidates_cache_when_asked(gw_server, admin, acct):
    settings = {"cache_invalidate_on_update": True, "cache_ttl": 300, "collect_logs": True,
                "rate_limiting_interval": None, "rate_limiting_limit": None}
    admin.post("/gateways", json={"id": "gw", **settings})
    assert post(gw_server, acct).headers["cf-aig-cache-status"] == "MISS"
    assert post(gw_server, acct).headers["cf-aig-cache-status"] == "HIT"
    admin.put("/gateways/gw", json=settings)
    assert post(gw_server, acct).headers["cf-aig-cache-status"] == "MISS"
    admin.put("/gateways/gw", json={**settings, "cache_invalidate_on_update": False})
    assert post(gw_server, acct).headers["cf-aig-cache-status"] == "MISS"  # generation changed once more
    admin.put("/gateways/gw", json={**settings, "cache_invalidate_on_update": False, "collect_logs": False})
    assert post(gw_server, acct).headers["cf-aig-cache-status"] == "HIT"  # kept across this update


def test_streams_are_cached_and_replayed_chunk_by_chunk(gw_server, admin, acct):
    make_gateway(admin, cache_ttl=300)
    body = {**BODY, "stream": True, "stream_options": {"include_usage": True}}

    def chunks():
        with httpx.stream("POST", f"{gw_server.url}/v1/{acct}/gw/openai/chat/completions", json=body,
                          headers={"authorization": "Bearer k"}, timeout=30) as r:
            return r.headers.get("cf-aig-cache-status"), [c for c in r.iter_bytes() if c]

    status1, first = chunks()
    status2, second = chunks()
    assert (status1, status2) == ("MISS", "HIT")
    assert b"".join(first) == b"".join(second) and len(second) == len(first) > 3
    logs = admin.get("/gateways/gw/logs").json()["result"]
    assert logs[0]["cached"] and (logs[0]["tokens_in"], logs[0]["tokens_out"]) == (11, 6)


def test_memory_cache_bounds_and_expiry():
    cache = MemoryCache(max_bytes=100)
    cache.put("a", CachedResponse(200, {}, [b"x" * 60], time.time() + 60))
    cache.put("b", CachedResponse(200, {}, [b"y" * 60], time.time() + 60))
    assert cache.get("a") is None and cache.get("b") is not None  # least recently used went first
    cache.put("c", CachedResponse(200, {}, [b"z"], time.time() - 1))
    assert cache.get("c") is None


@pytest.mark.parametrize("technique", ["fixed", "sliding"])
def test_rate_limit_exact_under_concurrency(gw_server, admin, acct, technique):
    make_gateway(admin, rate_limiting_limit=7, rate_limiting_interval=3600, rate_limiting_technique=technique)
    url = f"{gw_server.url}/v1/{acct}/gw/openai/chat/completions"

    async def main():
        async with httpx.AsyncClient(timeout=30) as client:
            return await asyncio.gather(*(client.post(url, json=BODY, headers={"authorization": "Bearer k"})
                                          for _ in range(30)))

    results = asyncio.run(main())
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(200) == 7 and statuses.count(429) == 23
    limited = next(r for r in results if r.status_code == 429).json()
    assert limited["error"][0]["code"] == 2003


def test_rate_limiter_windows():
    now = [1000.0]
    limiter = MemoryRateLimiter(clock=lambda: now[0])

    def hit(key, technique):
        return asyncio.run(limiter.hit(key, 2, 10, technique))[0]

    assert [hit("k", "fixed") for _ in range(3)] == [True, True, False]
    now[0] = 1010.0  # next calendar window
    assert hit("k", "fixed")
    now[0] = 2000.0
    assert [hit("s", "sliding") for _ in range(3)] == [True, True, False]
    now[0] = 2009.0
    assert not hit("s", "sliding")
    now[0] = 2010.5  # the first two are now older than 10 s
    assert hit("s", "sliding")


def test_retries_with_backoff_and_retry_after(gw_server, fake, admin, acct):
    make_gateway(admin)
    before = len(fake.requests)
    r = post(gw_server, acct, headers={"x-fake": f"fail-once:a-{acct}", "cf-aig-max-attempts": "3", "cf-aig-retry-delay": "50"})
    assert r.status_code == 200 and len(fake.requests) == before + 2
    started = time.monotonic()
    r = post(gw_server, acct, headers={"x-fake": f"429-once:b-{acct}", "cf-aig-max-attempts": "2", "cf-aig-retry-delay": "0"})
    assert r.status_code == 200 and time.monotonic() - started >= 0.9  # honoured Retry-After: 1
    before = len(fake.requests)
    r = post(gw_server, acct, headers={"x-fake": "fail-always", "cf-aig-max-attempts": "3", "cf-aig-retry-delay": "10",
                                       "cf-aig-backoff": "exponential"})
    assert r.status_code == 500 and len(fake.requests) == before + 3  # the provider's own error, passed through


def test_gateway_retry_settings_apply(gw_server, fake, admin, acct):
    make_gateway(admin, retry_max_attempts=2, retry_delay=10, retry_backoff="linear")
    before = len(fake.requests)
    assert post(gw_server, acct, headers={"x-fake": f"fail-once:c-{acct}"}).status_code == 200
    assert len(fake.requests) == before + 2


def test_timeouts_and_network_errors(gw_server, admin, acct):
    make_gateway(admin)
    started = time.monotonic()
    r = post(gw_server, acct, headers={"x-fake": "hang", "cf-aig-request-timeout": "300"})
    assert r.status_code == 504 and r.json()["error"][0]["code"] == 2007 and time.monotonic() - started < 5
    r = post(gw_server, acct, headers={"x-fake": "slow:0.5", "cf-aig-request-timeout": "3000"})
    assert r.status_code == 200
    r = post(gw_server, acct, headers={"x-fake": "reset"})
    assert r.status_code in (500, 502)  # the fake's server answers 500 when its handler dies
    logs = admin.get("/gateways/gw/logs", params={"success": "false"}).json()["result"]
    assert any(l["status_code"] == 504 for l in logs)


@pytest.mark.parametrize("header, value", [("cf-aig-max-attempts", "9"), ("cf-aig-backoff", "random"),
                                           ("cf-aig-metadata", "[1]"), ("cf-aig-custom-cost", '{"x": 1}'),
                                           ("cf-aig-cache-ttl", "abc"), ("cf-aig-skip-cache", "maybe")])
def test_bad_gateway_headers(gw_server, admin, acct, header, value):
    make_gateway(admin)
    r = post(gw_server, acct, headers={header: value})
    assert r.status_code == 400 and r.json()["error"][0]["code"] == 2008


def test_cache_is_per_provider_credential(gw_server, fake, admin, acct):
    """Cloudflare's rule: the cache key holds a hash of the provider credential. A caller whose key the provider
    refuses (here: wrong or revoked, the fake answers 401) never gets another caller's cached 200."""
    make_gateway(admin, cache_ttl=300)
    body = {**BODY, "messages": [{"role": "user", "content": "per credential"}]}
    a1 = post(gw_server, acct, body=body, headers={"authorization": "Bearer sk-alice"})
    a2 = post(gw_server, acct, body=body, headers={"authorization": "Bearer sk-alice"})
    assert (a1.status_code, a1.headers["cf-aig-cache-status"]) == (200, "MISS")
    assert (a2.status_code, a2.headers["cf-aig-cache-status"]) == (200, "HIT")
    before = len(fake.requests)
    wrong = post(gw_server, acct, body=body, headers={"authorization": "Bearer sk-revoked", "x-fake": "401"})
    assert wrong.status_code == 401 and wrong.headers["cf-aig-cache-status"] == "MISS"
    assert len(fake.requests) == before + 1 and fake.requests[-1]["headers"]["authorization"] == "Bearer sk-revoked"
    anonymous = httpx.post(f"{gw_server.url}/v1/{acct}/gw/openai/chat/completions", json=body,
                           headers={"x-fake": "401"}, timeout=30)
    assert anonymous.status_code == 401
    # a custom cache key names an entry per credential too: the same key chosen by someone else is not a hit
    shared = {"cf-aig-cache-key": "shared-key"}
    post(gw_server, acct, body=body, headers={"authorization": "Bearer sk-alice", **shared})
    assert post(gw_server, acct, body=body, headers={"authorization": "Bearer sk-alice", **shared}) \
        .headers["cf-aig-cache-status"] == "HIT"
    other = post(gw_server, acct, body=body, headers={"authorization": "Bearer sk-mallory", "x-fake": "401", **shared})
    assert other.status_code == 401 and other.headers["cf-aig-cache-status"] == "MISS"
    # the credential is where the provider takes it: Anthropic's x-api-key, Google's ?key=
    url = f"{gw_server.url}/v1/{acct}/gw/anthropic/v1/messages"
    msg = {"model": "claude-3-5-haiku-latest", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(url, json=msg, headers={"x-api-key": "ant-1"}).headers["cf-aig-cache-status"] == "MISS"
    assert httpx.post(url, json=msg, headers={"x-api-key": "ant-1"}).headers["cf-aig-cache-status"] == "HIT"
    assert httpx.post(url, json=msg, headers={"x-api-key": "ant-2", "x-fake": "401"}).status_code == 401
    url = f"{gw_server.url}/v1/{acct}/gw/google-ai-studio/v1beta/models/gemini-2.5-flash:generateContent"
    content = {"contents": [{"parts": [{"text": "hi"}]}]}
    assert httpx.post(url, params={"key": "g-1"}, json=content, headers=shared).headers["cf-aig-cache-status"] == "MISS"
    assert httpx.post(url, params={"key": "g-1"}, json=content, headers=shared).headers["cf-aig-cache-status"] == "HIT"
    assert httpx.post(url, params={"key": "g-2"}, json=content, headers={**shared, "x-fake": "401"}).status_code == 401
