"""One `kumo serve` for the whole fuzz suite, its gateway providers pointed at the fake provider, with one seeded
resource per product so mutated requests reach the handlers (an index with vectors and a metadata index, an AI
Search instance with an item, a gateway with a log row and a dynamic route)."""

from __future__ import annotations

import io
import json
import time

import httpx
import pytest

from tests.conftest import PROVIDER_SLUGS, Server
from tests.fuzz.catalog import ACCOUNT, BODIES, DIMS, GATEWAY, INDEX, INSTANCE, VECTOR


@pytest.fixture(scope="session")
def fuzz_server(tmp_path_factory, fake):
    env = {"KUMO_UPSTREAM_" + slug.upper().replace("-", "_"): fake.url for slug in PROVIDER_SLUGS}
    env["KUMO_GATEWAY_STREAM_IDLE_TIMEOUT"] = "2"
    srv = Server(tmp_path_factory.mktemp("fuzz") / "data", env=env).start()
    with httpx.Client(base_url=srv.url, timeout=120, headers={"authorization": "Bearer dev-token"}) as client:
        seeded = _seed(client)
    yield srv, seeded
    srv.stop()


def _ok(response: httpx.Response) -> dict:
    assert response.status_code < 300, response.text
    return response.json()


def _seed(client: httpx.Client) -> dict[str, str]:
    """Creates the resources; answers the ids kumo chose for them (path parameter -> id)."""
    base = f"/client/v4/accounts/{ACCOUNT}"
    _ok(client.post(f"{base}/vectorize/v2/indexes",
                    json={"name": INDEX, "config": {"dimensions": DIMS, "metric": "cosine"}}))
    _ok(client.post(f"{base}/vectorize/v2/indexes/{INDEX}/metadata_index/create",
                    json={"propertyName": "k", "indexType": "string"}))
    lines = [json.dumps({"id": f"v{i}", "values": VECTOR, "metadata": {"k": "v"}}) for i in range(1, 4)]
    _ok(client.post(f"{base}/vectorize/v2/indexes/{INDEX}/upsert", content="\n".join(lines),
                    headers={"content-type": "application/x-ndjson"}))
    _ok(client.post(f"{base}/ai-search/instances", json={
        "id": INSTANCE, "custom_metadata": [{"field_name": "category", "data_type": "text"}]}))
    item = _ok(client.post(f"{base}/ai-search/instances/{INSTANCE}/items", files={
        "file": ("Grüße 😀.txt", io.BytesIO(b"Kumo is a self-hosted AI platform.")),
        "metadata": (None, json.dumps({"category": "a"})), "wait_for_completion": (None, "true")}))["result"]
    _ok(client.post(f"{base}/ai-gateway/gateways", json={
        "id": GATEWAY, "cache_invalidate_on_update": False, "cache_ttl": None, "collect_logs": True,
        "rate_limiting_interval": None, "rate_limiting_limit": None}))
    _ok(client.post(f"/v1/{ACCOUNT}/{GATEWAY}/openai/chat/completions", headers={"authorization": "Bearer sk-x"},
                    json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}))
    deadline = time.monotonic() + 20
    while not (logs := _ok(client.get(f"{base}/ai-gateway/gateways/{GATEWAY}/logs"))["result"]):
        assert time.monotonic() < deadline, "the seeded gateway call was never logged"
        time.sleep(0.2)
    jobs = _ok(client.get(f"{base}/ai-search/instances/{INSTANCE}/jobs"))["result"]
    route = _ok(client.post(f"{base}/ai-gateway/gateways/{GATEWAY}/routes", json=BODIES[("POST", "/routes")]))
    return {"item_id": item["id"], "log_id": logs[0]["id"], "job_id": jobs[0]["id"] if jobs else "nope",
            "route_id": route["result"]["id"]}
