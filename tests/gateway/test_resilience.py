"""The universal endpoint and /compat's dynamic routes against a provider that fails below HTTP (fault_server.py):
complete is complete without `[DONE]`, a timeout moves to the next step, a content-policy 400 does not fall back
(a context-length 400 does), and `Retry-After` is honoured only within the deadline. `openai` is the faulty
provider here; every other provider is the well-behaved fake."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import openai
import pytest

from tests.conftest import PROVIDER_SLUGS, Server
from tests.gateway.conftest import make_gateway
from tests.gateway.fault_server import WORDS, FaultServer

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "u"}]}


@pytest.fixture(scope="module")
def fault():
    server = FaultServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def kumo(tmp_path_factory, fake, fault):
    env = {"KUMO_UPSTREAM_" + slug.upper().replace("-", "_"): fake.url for slug in PROVIDER_SLUGS}
    env["KUMO_UPSTREAM_OPENAI"] = fault.url
    env["KUMO_GATEWAY_STREAM_IDLE_TIMEOUT"] = "2"
    srv = Server(tmp_path_factory.mktemp("resilience") / "data", env=env).start()
    yield srv
    srv.stop()


@pytest.fixture
def gw(kumo):
    acct = "res-" + uuid.uuid4().hex[:10]
    with httpx.Client(base_url=f"{kumo.url}/client/v4/accounts/{acct}/ai-gateway",
                      headers={"authorization": "Bearer admin"}, timeout=60) as admin:
        make_gateway(admin)
        yield f"{kumo.url}/v1/{acct}/gw", admin


def step(provider, fault="ok", config=None, **query):
    s = {"provider": provider, "endpoint": "chat/completions",
         "headers": {"authorization": "Bearer k", "x-fault": fault}, "query": {**CHAT, **query}}
    return {**s, "config": config} if config else s


def logs(admin, count):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the log writer is asynchronous
        rows = admin.get("/gateways/gw/logs", params={"order_by_direction": "asc"}).json()["result"]
        if len(rows) >= count:
            return rows
        time.sleep(0.1)
    raise AssertionError(f"expected {count} log rows")


def test_a_stream_complete_without_done_is_a_success(gw):
    url, admin = gw
    client = openai.OpenAI(api_key="k", base_url=f"{url}/openai", max_retries=0,
                           default_headers={"x-fault": "no-done"})
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}],
                                                 stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "".join(WORDS)
    assert chunks[-1].usage.total_tokens == 11
    with httpx.stream("POST", url, json=[step("openai", "no-done", stream=True,
                                               stream_options={"include_usage": True})], timeout=30) as r:
        lines = [line for line in r.iter_lines() if line]
    assert not any(line.startswith("event: error") for line in lines) and lines[-1].startswith("data: {")
    rows = logs(admin, 2)
    assert [row["success"] for row in rows] == [True, True] and rows[0]["tokens_out"] == 6


@pytest.mark.parametrize("fault_name", ["no-terminator", "cut-after-finish"])
def test_an_incomplete_stream_still_ends_with_an_error(gw, fault_name):
    url, admin = gw
    client = openai.OpenAI(api_key="k", base_url=f"{url}/openai", max_retries=0,
                           default_headers={"x-fault": fault_name})
    with pytest.raises(openai.APIError):  # the chunked body without its terminator; the usage asked for missing
        for _ in client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}],
                                                stream=True, stream_options={"include_usage": True}):
            pass
    assert logs(admin, 1)[0]["success"] is False


def test_a_timeout_moves_to_the_next_step_without_retrying(gw, fault):
    url, admin = gw
    before = fault.seen["stall"]
    started = time.monotonic()
    r = httpx.post(url, json=[step("openai", "stall", {"requestTimeout": 400, "maxAttempts": 3, "retryDelay": 10}),
                              step("groq")], timeout=30)
    elapsed = time.monotonic() - started
    assert r.status_code == 200 and r.headers["cf-aig-step"] == "1"
    assert fault.seen["stall"] - before == 1 and elapsed < 1.2 + 1.0  # one 400 ms attempt, not three
    # the last step has nowhere to go: its own retries still run
    before = fault.seen["stall"]
    r = httpx.post(url, json=[step("openai", "stall", {"requestTimeout": 300, "maxAttempts": 2})], timeout=30)
    assert r.status_code == 504 and fault.seen["stall"] - before == 2


def test_a_reset_before_headers_falls_back(gw, fault):
    url, _ = gw
    before = fault.seen["reset"]
    r = httpx.post(url, json=[step("openai", "reset"), step("groq")], timeout=30)
    assert r.status_code == 200 and r.headers["cf-aig-step"] == "1" and fault.seen["reset"] - before == 1


def test_a_content_policy_400_does_not_fall_back_but_a_context_length_400_does(gw, fault):
    url, admin = gw
    r = httpx.post(url, json=[step("openai", "policy"), step("groq")], timeout=30)
    assert r.status_code == 400 and r.headers["cf-aig-step"] == "0"
    assert r.json()["error"]["code"] == "content_policy_violation"
    r = httpx.post(url, json=[step("openai", "context"), step("groq")], timeout=30)
    assert r.status_code == 200 and r.headers["cf-aig-step"] == "1"
    assert [row["provider"] for row in logs(admin, 3)] == ["openai", "openai", "groq"]


def test_a_dynamic_route_keeps_the_same_rules(gw, kumo):
    url, admin = gw
    elements = [
        {"id": "s", "type": "start", "properties": {}, "outputs": {"next": {"elementId": "a"}}},
        {"id": "a", "type": "model", "properties": {"provider": "openai", "model": "gpt-4o", "timeout": 400,
                                                     "retries": 2},
         "outputs": {"success": {"elementId": "e"}, "fallback": {"elementId": "b"}}},
        {"id": "b", "type": "model", "properties": {"provider": "groq", "model": "llama-3.1-8b-instant"},
         "outputs": {"success": {"elementId": "e"}, "fallback": {"elementId": "e"}}},
        {"id": "e", "type": "end", "properties": {}, "outputs": {}},
    ]
    assert admin.post("/gateways/gw/routes", json={"name": "r", "elements": elements}).status_code == 200

    def client(fault_name):
        return openai.OpenAI(api_key="k", base_url=f"{url}/compat", max_retries=0,
                             default_headers={"x-fault": fault_name})

    started = time.monotonic()
    raw = client("stall").chat.completions.with_raw_response.create(
        model="dynamic/r", messages=[{"role": "user", "content": "x"}])
    assert raw.headers["cf-aig-provider"] == "groq" and time.monotonic() - started < 2.2
    with pytest.raises(openai.BadRequestError) as refused:
        client("policy").chat.completions.create(model="dynamic/r", messages=[{"role": "user", "content": "x"}])
    assert refused.value.code == "content_policy_violation"
    raw = client("context").chat.completions.with_raw_response.create(
        model="dynamic/r", messages=[{"role": "user", "content": "x"}])
    assert raw.headers["cf-aig-provider"] == "groq"


def test_retry_after_is_honoured_within_the_deadline(gw, fault):
    url, _ = gw
    key = uuid.uuid4().hex
    started = time.monotonic()
    r = httpx.post(url, json=[step("openai", f"retry-after:1:{key}", {"requestTimeout": 5000, "maxAttempts": 2}),
                              step("groq")], timeout=30)
    assert r.status_code == 200 and r.headers["cf-aig-step"] == "0"  # waited the second, then answered
    assert time.monotonic() - started >= 0.95 and fault.seen[f"retry-after:1:{key}"] == 2
    key = uuid.uuid4().hex
    started = time.monotonic()
    r = httpx.post(url, json=[step("openai", f"retry-after:30:{key}", {"requestTimeout": 2000, "maxAttempts": 3}),
                              step("groq")], timeout=30)
    assert r.status_code == 200 and r.headers["cf-aig-step"] == "1"  # 30 s is past the deadline: next step now
    assert time.monotonic() - started < 1.5 and fault.seen[f"retry-after:30:{key}"] == 1
    json.dumps(r.json())
