from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import Server
from tests.gateway.fake_provider import FakeProvider

PROVIDER_SLUGS = ["openai", "anthropic", "google-ai-studio", "groq", "mistral", "deepseek", "azure-openai",
                  "aws-bedrock", "google-vertex-ai", "huggingface", "replicate", "cohere", "perplexity-ai", "grok",
                  "openrouter", "cerebras"]


@pytest.fixture(scope="session")
def fake():
    provider = FakeProvider().start()
    yield provider
    provider.stop()


@pytest.fixture(scope="session")
def gw_server(tmp_path_factory, fake):
    env = {"KUMO_UPSTREAM_" + slug.upper().replace("-", "_"): fake.url for slug in PROVIDER_SLUGS}
    env["KUMO_GATEWAY_STREAM_IDLE_TIMEOUT"] = "2"
    srv = Server(tmp_path_factory.mktemp("gw") / "data", env=env).start()
    yield srv
    srv.stop()


@pytest.fixture
def acct() -> str:
    return "gwacct-" + uuid.uuid4().hex[:10]


@pytest.fixture
def admin(gw_server, acct):
    with httpx.Client(base_url=f"{gw_server.url}/client/v4/accounts/{acct}/ai-gateway",
                      headers={"authorization": "Bearer admin"}, timeout=60) as client:
        yield client


def make_gateway(admin: httpx.Client, gateway_id: str = "gw", **settings) -> dict:
    body = {"id": gateway_id, "cache_invalidate_on_update": False, "cache_ttl": None, "collect_logs": True,
            "rate_limiting_interval": None, "rate_limiting_limit": None, **settings}
    r = admin.post("/gateways", json=body)
    assert r.status_code == 200, r.text
    return r.json()["result"]
