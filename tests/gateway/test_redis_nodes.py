"""Two kumo nodes sharing PostgreSQL and Redis: a gateway created through one serves on both, rate limits are
exact across both, a response cached by one is a HIT on the other, the logs of both land in one place; with
Redis gone the gateway keeps serving (fail-open) and recovers when Redis returns."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid

import httpx
import pytest
import redis

from tests.conftest import Server, free_port
from tests.gateway.conftest import PROVIDER_SLUGS

REDIS = "redis://127.0.0.1:6379/0"
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "shared"}]}


def redis_available(url: str) -> bool:
    try:
        return redis.Redis.from_url(url, socket_timeout=0.5).ping()
    except redis.RedisError:
        return False


@pytest.fixture(scope="module")
def nodes(tmp_path_factory, fake, pg_url):
    if not redis_available(REDIS):
        pytest.fail("Redis is not running on 127.0.0.1:6379 (scripts/test-services.sh starts it)")
    env = {"KUMO_REDIS_URL": REDIS, "KUMO_DATABASE_URL": pg_url, "KUMO_GATEWAY_KEY_ENCRYPTION_KEY": "k" * 40, **{"KUMO_UPSTREAM_" + s.upper().replace("-", "_"): fake.url for s in PROVIDER_SLUGS}}
    a = Server(tmp_path_factory.mktemp("node-a") / "data", env=env).start()
    b = Server(tmp_path_factory.mktemp("node-b") / "data", env=env).start()
    yield a, b
    a.stop()
    b.stop()


def create_gateway(srv, account, gateway, **settings):
    """Through one node: the others read it from the shared database."""
    body = {"id": gateway, "cache_invalidate_on_update": False, "cache_ttl": None, "collect_logs": True,
            "rate_limiting_interval": None, "rate_limiting_limit": None, **settings}
    r = httpx.post(f"{srv.url}/client/v4/accounts/{account}/ai-gateway/gateways", json=body,
                   headers={"authorization": "Bearer t"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("technique", ["fixed", "sliding"])
def test_limit_is_exact_across_nodes(nodes, technique):
    account = "rl-" + uuid.uuid4().hex[:8]
    create_gateway(nodes[0], account, "gw", rate_limiting_limit=10, rate_limiting_interval=3600,
                      rate_limiting_technique=technique)

    async def main():
        async with httpx.AsyncClient(timeout=30) as client:
            calls = [client.post(f"{nodes[i % 2].url}/v1/{account}/gw/openai/chat/completions", json=BODY,
                                 headers={"authorization": "Bearer k"}) for i in range(40)]
            return await asyncio.gather(*calls)

    statuses = [r.status_code for r in asyncio.run(main())]
    assert statuses.count(200) == 10 and statuses.count(429) == 30


def test_cache_shared_across_nodes(nodes):
    account = "c-" + uuid.uuid4().hex[:8]
    create_gateway(nodes[1], account, "gw", cache_ttl=300)
    body = {**BODY, "nonce": uuid.uuid4().hex}
    first = httpx.post(f"{nodes[0].url}/v1/{account}/gw/openai/chat/completions", json=body,
                       headers={"authorization": "Bearer k"})
    second = httpx.post(f"{nodes[1].url}/v1/{account}/gw/openai/chat/completions", json=body,
                        headers={"authorization": "Bearer k"})
    assert first.headers["cf-aig-cache-status"] == "MISS" and second.headers["cf-aig-cache-status"] == "HIT"
    assert second.json() == first.json()


def test_logs_of_both_nodes_in_one_place(nodes):
    account = "l-" + uuid.uuid4().hex[:8]
    create_gateway(nodes[0], account, "gw")
    for i in range(6):
        r = httpx.post(f"{nodes[i % 2].url}/v1/{account}/gw/openai/chat/completions",
                       json={**BODY, "nonce": i}, headers={"authorization": "Bearer k"})
        assert r.status_code == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # logs are written in batches, off the request path
        logs = httpx.get(f"{nodes[1].url}/client/v4/accounts/{account}/ai-gateway/gateways/gw/logs",
                         headers={"authorization": "Bearer t"}).json()
        if logs["result_info"]["total_count"] == 6:
            break
        time.sleep(0.2)
    assert logs["result_info"]["total_count"] == 6


def test_redis_outage_and_recovery(tmp_path, fake):
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is needed for this test (apt-get install redis-server)")
    port = free_port()

    def start_redis():
        proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not redis_available(f"redis://127.0.0.1:{port}/0"):
            assert time.monotonic() < deadline, "private redis-server did not start"
            time.sleep(0.05)
        return proc

    redis_proc = start_redis()
    env = {"KUMO_REDIS_URL": f"redis://127.0.0.1:{port}/0", "KUMO_UPSTREAM_OPENAI": fake.url}
    srv = Server(tmp_path / "data", env=env).start()
    try:
        create_gateway(srv, "out", "gw", cache_ttl=300, rate_limiting_limit=1000, rate_limiting_interval=60)

        def ask():
            return httpx.post(f"{srv.url}/v1/out/gw/openai/chat/completions", json=BODY,
                              headers={"authorization": "Bearer k"}, timeout=30)

        assert ask().headers["cf-aig-cache-status"] == "MISS"
        assert ask().headers["cf-aig-cache-status"] == "HIT"
        redis_proc.terminate()
        redis_proc.wait()
        down = ask()  # Redis gone: still served, from the provider, limits fail open
        assert down.status_code == 200 and down.headers["cf-aig-cache-status"] == "MISS"
        redis_proc = start_redis()  # back (empty: it keeps nothing on disk)
        assert ask().headers["cf-aig-cache-status"] == "MISS"
        assert ask().headers["cf-aig-cache-status"] == "HIT"
    finally:
        srv.stop()
        redis_proc.terminate()
        redis_proc.wait()


def test_spend_limit_is_shared_across_nodes(nodes):
    account = "sp-" + uuid.uuid4().hex[:8]
    create_gateway(nodes[0], account, "gw", spend_limits={"rules": [
        {"id": "per-user", "limit": 0.01, "window": 3600, "metadata": {"user_id": {"mode": "partition"}}}]})

    def ask(node, user, cost=None):
        headers = {"authorization": "Bearer k", "cf-aig-metadata": f'{{"user_id": "{user}"}}'}
        if cost is not None:
            headers["cf-aig-custom-cost"] = f'{{"total_cost": {cost}}}'
        return httpx.post(f"{node.url}/v1/{account}/gw/openai/chat/completions", json=BODY, headers=headers).status_code

    assert ask(nodes[0], "u1", 0.006) == 200
    assert ask(nodes[1], "u1", 0.006) == 200  # $0.006 spent so far, counted through node a
    assert ask(nodes[0], "u1") == 429 and ask(nodes[1], "u1") == 429  # $0.012: spent on every node
    assert ask(nodes[1], "u2") == 200


def test_stored_key_rotation_reaches_every_node(nodes, fake):
    account = "bk-" + uuid.uuid4().hex[:8]
    create_gateway(nodes[0], account, "gw")

    def store(secret):
        r = httpx.post(f"{nodes[0].url}/client/v4/accounts/{account}/ai-gateway/gateways/gw/provider_configs",
                       json={"provider_slug": "openai", "alias": "default", "default_config": True, "secret": secret},
                       headers={"authorization": "Bearer t"})
        assert r.status_code == 200 and secret not in r.text

    def key_used_by(node):
        r = httpx.post(f"{node.url}/v1/{account}/gw/openai/chat/completions", json=BODY,
                       headers={"cf-aig-authorization": "Bearer t"})
        assert r.status_code == 200
        return fake.requests[-1]["headers"]["authorization"]

    store("sk-first-key-1111")
    assert key_used_by(nodes[1]) == "Bearer sk-first-key-1111"  # stored through a, used by b
    store("sk-second-key-2222")
    deadline = time.monotonic() + 5
    while key_used_by(nodes[1]) != "Bearer sk-second-key-2222":
        assert time.monotonic() < deadline, "the rotation did not reach node b within 5 s"
        time.sleep(0.2)
    assert key_used_by(nodes[0]) == "Bearer sk-second-key-2222"
