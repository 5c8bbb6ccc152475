"""PostgreSQL going away under a running node (a private PostgreSQL, so other tests are not disturbed):
writes answer 503 with Cloudflare's envelope and change nothing, the gateway keeps proxying with the
settings it last saw, its log rows wait in memory and are written when PostgreSQL is back."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import Server, free_port
from tests.pg_instance import PrivatePostgres

GATEWAYS = "/client/v4/accounts/o/ai-gateway/gateways"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "still there?"}]}
GATEWAY = {"cache_invalidate_on_update": False, "cache_ttl": None, "collect_logs": True,
           "rate_limiting_interval": None, "rate_limiting_limit": None}


@pytest.fixture
def postgres():
    pg = PrivatePostgres(free_port())
    pg.start()
    yield pg
    pg.remove()


def _unavailable(r: httpx.Response) -> bool:
    body = r.json()
    return r.status_code == 503 and body["success"] is False and body["errors"][0]["code"] == 10002


def test_postgres_outage_and_return(tmp_path, fake, postgres):
    node = Server(tmp_path / "node", env={"KUMO_DATABASE_URL": postgres.url, "KUMO_UPSTREAM_OPENAI": fake.url,
                                                "KUMO_DATABASE_TIMEOUT": "1"}).start()
    try:
        with httpx.Client(base_url=node.url, headers={"authorization": "Bearer t"}, timeout=60) as client:
            assert client.post(GATEWAYS, json={"id": "gw", **GATEWAY}).status_code == 200
            proxy = "/v1/o/gw/openai/chat/completions"
            assert client.post(proxy, json=CHAT, headers={"authorization": "Bearer sk"}).status_code == 200

            postgres.stop()
            time.sleep(2.5)  # past the 2 s for which nodes keep gateway settings without asking
            during = client.post(proxy, json={**CHAT, "n": 2}, headers={"authorization": "Bearer sk"})
            assert during.status_code == 200  # proxied with the settings last seen
            assert _unavailable(client.post(GATEWAYS, json={"id": "gw2", **GATEWAY}))
            assert _unavailable(client.post("/client/v4/accounts/o/ai/run/@cf/baai/bge-small-en-v1.5",
                                            params={"queueRequest": "true"}, json={"requests": [{"text": "x"}]}))
            assert _unavailable(client.get(GATEWAYS + "/gw/logs"))

            postgres.start()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # the pool reconnects; the buffered log row is written
                r = client.get(GATEWAYS + "/gw/logs")
                if r.status_code == 200 and r.json()["result_info"]["total_count"] == 2:
                    break
                time.sleep(0.5)
            assert r.status_code == 200 and r.json()["result_info"]["total_count"] == 2
            assert during.headers["cf-aig-log-id"] in {item["id"] for item in r.json()["result"]}
            assert client.post(GATEWAYS, json={"id": "gw2", **GATEWAY}).status_code == 200
            assert [g["id"] for g in client.get(GATEWAYS).json()["result"]] == ["gw", "gw2"]
    finally:
        node.stop()
