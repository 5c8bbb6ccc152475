"""Gateway management and logs through the official `cloudflare` SDK; metadata, event ids, custom costs,
log switches, authenticated gateways, retention, and no provider key anywhere on disk."""

from __future__ import annotations

import json
from pathlib import Path

import cloudflare
import httpx
import pytest

from tests.gateway.conftest import make_gateway

REQUIRED = dict(cache_invalidate_on_update=False, cache_ttl=None, collect_logs=True, rate_limiting_interval=None,
                rate_limiting_limit=None)


@pytest.fixture
def cfsdk(gw_server):
    client = cloudflare.Cloudflare(api_token="t", base_url=gw_server.url + "/client/v4", max_retries=0)
    yield client
    client.close()


def call(gw_server, acct, gateway="gw", headers=None, body=None):
    return httpx.post(f"{gw_server.url}/v1/{acct}/{gateway}/openai/chat/completions",
                      json=body or {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "m"}]},
                      headers={"authorization": "Bearer sk-live-PROVIDER-SECRET", **(headers or {})}, timeout=30)


def test_gateway_crud_with_the_sdk(cfsdk, acct):
    gw = cfsdk.ai_gateway.create(account_id=acct, id="main", cache_invalidate_on_update=True, cache_ttl=60,
                                 collect_logs=True, rate_limiting_interval=60, rate_limiting_limit=10,
                                 rate_limiting_technique="sliding", authentication=False, log_management=5000,
                                 log_management_strategy="DELETE_OLDEST")
    assert gw.id == "main" and gw.cache_ttl == 60 and gw.rate_limiting_technique == "sliding"
    assert gw.created_at and gw.modified_at
    listed = list(cfsdk.ai_gateway.list(account_id=acct))
    assert [g.id for g in listed] == ["main"]
    updated = cfsdk.ai_gateway.update("main", account_id=acct, cache_invalidate_on_update=False, cache_ttl=None,
                                      collect_logs=False, rate_limiting_interval=None, rate_limiting_limit=None)
    assert updated.collect_logs is False and updated.cache_ttl is None
    assert cfsdk.ai_gateway.get("main", account_id=acct).collect_logs is False
    url = cfsdk.ai_gateway.urls.get("openai", account_id=acct, gateway_id="main")
    assert url.endswith(f"/v1/{acct}/main/openai")
    deleted = cfsdk.ai_gateway.delete("main", account_id=acct)
    assert deleted.id == "main"
    with pytest.raises(cloudflare.NotFoundError):
        cfsdk.ai_gateway.get("main", account_id=acct)


@pytest.mark.parametrize("body, needle", [
    ({"id": "x"}, "cache_invalidate_on_update"),
    ({"id": "bad id!", **REQUIRED}, "id"),
    ({"id": "x", **REQUIRED, "cache_ttl": -1}, "cache_ttl"),
    ({"id": "x", **REQUIRED, "rate_limiting_limit": 5}, "together"),
    ({"id": "x", **REQUIRED, "rate_limiting_technique": "leaky"}, "rate_limiting_technique"),
    ({"id": "x", **REQUIRED, "retry_max_attempts": 9}, "retry_max_attempts"),
    ({"id": "x", **REQUIRED, "collect_logs": "yes"}, "collect_logs"),
])
def test_gateway_validation(admin, body, needle):
    r = admin.post("/gateways", json=body)
    assert r.status_code == 400 and needle in r.json()["errors"][0]["message"]


def test_duplicate_gateway(admin):
    make_gateway(admin, "dup")
    r = admin.post("/gateways", json={"id": "dup", **REQUIRED})
    assert r.status_code == 400


def test_logs_filters_stats_detail_feedback_delete(gw_server, cfsdk, admin, acct):
    make_gateway(admin)
    call(gw_server, acct, headers={"cf-aig-metadata": json.dumps({"user": "alice", "plan": "pro", "n": 3, "a": 1,
                                                                   "b": 2, "c": 3, "obj": {"x": 1}}),
                                   "cf-aig-event-id": "evt-1"})
    call(gw_server, acct, headers={"cf-aig-metadata": json.dumps({"user": "bob"}),
                                   "cf-aig-custom-cost": json.dumps({"per_token_in": 0.01, "per_token_out": 0.02})})
    call(gw_server, acct, headers={"x-fake": "400"})
    call(gw_server, acct, headers={"cf-aig-collect-log": "false"})
    page = cfsdk.ai_gateway.logs.list("gw", account_id=acct, per_page=10)
    logs = page.result
    assert len(logs) == 3
    info = page.result_info if hasattr(page, "result_info") else None
    raw = admin.get("/gateways/gw/logs").json()["result_info"]
    assert raw["total_count"] == 3 and raw["max_tokens_in"] == 8 and raw["min_duration"] >= 0
    assert info is None or info.total_count == 3
    alice = next(l for l in logs if json.loads(l.metadata).get("user") == "alice")
    assert json.loads(alice.metadata) == {"user": "alice", "plan": "pro", "n": 3, "a": 1, "b": 2}  # 5 kept
    bob = next(l for l in logs if json.loads(l.metadata).get("user") == "bob")
    assert bob.custom_cost is True and bob.cost == pytest.approx(8 * 0.01 + 6 * 0.02)
    # the SDK's repeated filters.key/operator/value parameters
    failed = cfsdk.ai_gateway.logs.list("gw", account_id=acct, filters=[
        {"key": "success", "operator": "eq", "value": [False]}]).result
    assert [l.status_code for l in failed] == [400]
    by_meta = cfsdk.ai_gateway.logs.list("gw", account_id=acct, filters=[
        {"key": "metadata.value", "operator": "eq", "value": ["bob"]}]).result
    assert [l.id for l in by_meta] == [bob.id]
    cheap = cfsdk.ai_gateway.logs.list("gw", account_id=acct, filters=[
        {"key": "cost", "operator": "gt", "value": [0.1]}, {"key": "provider", "operator": "eq", "value": ["openai"]}]).result
    assert [l.id for l in cheap] == [bob.id]
    by_event = admin.get("/gateways/gw/logs", params={"filters.key": "event_id", "filters.operator": "eq",
                                                      "filters.value": "evt-1"}).json()["result"]
    assert [l["id"] for l in by_event] == [alice.id]
    detail = cfsdk.ai_gateway.logs.get(alice.id, account_id=acct, gateway_id="gw")
    assert detail.request_head and "authorization" not in detail.request_head
    request = cfsdk.ai_gateway.logs.request(alice.id, account_id=acct, gateway_id="gw")
    assert request["messages"][0]["content"] == "m"
    response = cfsdk.ai_gateway.logs.response(alice.id, account_id=acct, gateway_id="gw")
    assert response["choices"][0]["message"]["content"] == "Hello from the fake provider."
    cfsdk.ai_gateway.logs.edit(alice.id, account_id=acct, gateway_id="gw", feedback=1, score=90,
                               metadata={"reviewed": True})
    liked = cfsdk.ai_gateway.logs.list("gw", account_id=acct, feedback=1).result
    assert [l.id for l in liked] == [alice.id]
    ordered = cfsdk.ai_gateway.logs.list("gw", account_id=acct, order_by="created_at", order_by_direction="asc").result
    assert ordered[0].id == alice.id
    cfsdk.ai_gateway.logs.delete("gw", account_id=acct, filters=[{"key": "success", "operator": "eq", "value": [False]}])
    assert len(cfsdk.ai_gateway.logs.list("gw", account_id=acct).result) == 2
    with pytest.raises(cloudflare.NotFoundError):
        cfsdk.ai_gateway.logs.get("01NOPE", account_id=acct, gateway_id="gw")
    bad = admin.get("/gateways/gw/logs", params={"filters.key": "nope", "filters.operator": "eq", "filters.value": "x"})
    assert bad.status_code == 400
    bad = admin.patch(f"/gateways/gw/logs/{alice.id}", json={"feedback": 7})
    assert bad.status_code == 400


def test_gateway_without_logs(gw_server, admin, acct):
    make_gateway(admin, collect_logs=False)
    call(gw_server, acct)
    assert admin.get("/gateways/gw/logs").json()["result"] == []
    call(gw_server, acct, headers={"cf-aig-collect-log": "true"})
    assert len(admin.get("/gateways/gw/logs").json()["result"]) == 1


def test_payload_can_be_left_out(gw_server, admin, acct):
    make_gateway(admin)
    call(gw_server, acct, headers={"cf-aig-collect-log-payload": "false"})
    log = admin.get("/gateways/gw/logs").json()["result"][0]
    assert admin.get(f"/gateways/gw/logs/{log['id']}/request").json() is None


def test_authenticated_gateway(gw_server, admin, acct):
    make_gateway(admin, authentication=True)
    r = call(gw_server, acct)
    assert r.status_code == 401 and r.json()["error"][0]["code"] == 2009
    r = call(gw_server, acct, headers={"cf-aig-authorization": "Bearer any-token-in-dev-mode"})
    assert r.status_code == 200


@pytest.mark.parametrize("strategy, expected_first", [("STOP_INSERTING", 0), ("DELETE_OLDEST", 2)])
def test_log_retention(gw_server, admin, acct, strategy, expected_first):
    make_gateway(admin, log_management=3, log_management_strategy=strategy)
    for i in range(5):
        call(gw_server, acct, headers={"cf-aig-metadata": json.dumps({"i": i})})
        admin.get("/gateways/gw/logs")  # flush between requests so each lands in its own batch
    logs = admin.get("/gateways/gw/logs", params={"order_by_direction": "asc"}).json()["result"]
    assert len(logs) == 3
    assert json.loads(logs[0]["metadata"])["i"] == expected_first


def test_no_provider_key_reaches_disk_or_logs(gw_server, admin, acct):
    make_gateway(admin, cache_ttl=120)
    call(gw_server, acct)
    call(gw_server, acct, body={"model": "gpt-4o-mini", "messages": [], "stream": True})
    httpx.post(f"{gw_server.url}/v1/{acct}/gw/anthropic/v1/messages", json={"model": "claude-3-haiku", "max_tokens": 5,
               "messages": []}, headers={"x-api-key": "sk-ant-PROVIDER-SECRET"}, timeout=30)
    httpx.post(f"{gw_server.url}/v1/{acct}/gw/google-ai-studio/v1beta/models/gemini-2.5-flash:generateContent",
               params={"key": "AIza-PROVIDER-SECRET"}, json={"contents": []}, timeout=30)
    admin.get("/gateways/gw/logs")  # flushed
    for path in Path(gw_server.data_dir).rglob("*"):
        if path.is_file():
            assert b"PROVIDER-SECRET" not in path.read_bytes(), path
    assert "PROVIDER-SECRET" not in gw_server.logged_text()
