"""Workers AI's REST API with `cf-aig-gateway-id`: the call goes through that AI Gateway (logged, cached, rate
limited), with the OpenAI SDK on `/ai/v1` and the cloudflare SDK on `/ai/run`, as langchain-cloudflare's
`ai_gateway=` sends it."""

from __future__ import annotations

import time

import cloudflare
import httpx
import openai
import pytest

LLM = "@cf/meta/llama-3.1-8b-instruct"
EMBED = "@cf/baai/bge-small-en-v1.5"


@pytest.fixture
def admin(server, account):
    with httpx.Client(base_url=f"{server.url}/client/v4/accounts/{account}/ai-gateway",
                      headers={"authorization": "Bearer t"}, timeout=60) as client:
        yield client


def logs(admin, gateway, count):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the log writer is asynchronous
        r = admin.get(f"/gateways/{gateway}/logs")
        if r.status_code == 200 and len(r.json()["result"]) >= count:
            return r.json()["result"]
        time.sleep(0.1)
    raise AssertionError(f"expected {count} log rows in {gateway}")


def test_openai_sdk_through_the_default_gateway(server, account, admin):
    oa = openai.OpenAI(api_key="t", base_url=f"{server.url}/client/v4/accounts/{account}/ai/v1", max_retries=0,
                       default_headers={"cf-aig-gateway-id": "default", "cf-aig-cache-ttl": "60"})
    ask = {"model": LLM, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8}
    first = oa.chat.completions.with_raw_response.create(**ask)
    assert first.parse().choices[0].message.content and first.headers["cf-aig-cache-status"] == "MISS"
    again = oa.chat.completions.with_raw_response.create(**ask)
    assert again.headers["cf-aig-cache-status"] == "HIT"
    assert again.parse().choices[0].message.content == first.parse().choices[0].message.content
    vectors = oa.embeddings.create(model=EMBED, input=["a", "b"])
    assert len(vectors.data) == 2
    rows = logs(admin, "default", 3)  # the default gateway was made on first use
    assert {row["provider"] for row in rows} == {"workers-ai"}
    assert {row["model"] for row in rows} == {LLM, EMBED}
    chat = [row for row in rows if row["model"] == LLM]
    assert sorted(row["cached"] for row in chat) == [False, True] and all(row["tokens_out"] for row in chat)
    # without the header, nothing goes through a gateway
    openai.OpenAI(api_key="t", base_url=f"{server.url}/client/v4/accounts/{account}/ai/v1",
                  max_retries=0).chat.completions.create(**ask)
    time.sleep(0.5)
    assert len(logs(admin, "default", 3)) == 3


def test_cloudflare_sdk_run_is_limited_by_the_named_gateway(server, account, admin):
    body = {"id": "limited", "cache_invalidate_on_update": False, "cache_ttl": None, "collect_logs": True,
            "rate_limiting_interval": 60, "rate_limiting_limit": 1, "rate_limiting_technique": "fixed"}
    assert admin.post("/gateways", json=body).status_code == 200
    cf = cloudflare.Cloudflare(api_token="t", base_url=f"{server.url}/client/v4", max_retries=0)
    answer = cf.ai.run(LLM, account_id=account, prompt="Say hi.", max_tokens=6,
                       extra_headers={"cf-aig-gateway-id": "limited"})
    assert answer["response"]
    with pytest.raises(cloudflare.RateLimitError):
        cf.ai.run(LLM, account_id=account, prompt="Say hi.", max_tokens=6,
                  extra_headers={"cf-aig-gateway-id": "limited"})
    row = logs(admin, "limited", 1)[0]
    assert row["provider"] == "workers-ai" and row["model"] == LLM and row["success"] is True


def test_a_gateway_that_does_not_exist_is_refused_and_credentials_are_checked_first(server, account):
    url = f"{server.url}/client/v4/accounts/{account}/ai/run/{LLM}"
    r = httpx.post(url, json={"prompt": "x"}, headers={"authorization": "Bearer t", "cf-aig-gateway-id": "nope"})
    assert r.status_code == 400 and "nope" in r.text
    r = httpx.post(url, json={"prompt": "x"}, headers={"cf-aig-gateway-id": "default"})
    assert r.status_code in (400, 401, 403) and r.json()["success"] is False


def test_unified_run_envelope_through_a_gateway(server, account, admin):
    url = f"{server.url}/client/v4/accounts/{account}/ai/run"
    r = httpx.post(url, json={"model": LLM, "input": {"prompt": "Say hi.", "max_tokens": 6}}, timeout=120,
                   headers={"authorization": "Bearer t", "cf-aig-gateway-id": "default"})
    assert r.status_code == 200 and r.json()["result"]["response"] and r.headers["cf-aig-log-id"]
    assert any(row["model"] == LLM and row["id"] == r.headers["cf-aig-log-id"] for row in logs(admin, "default", 1))
    r = httpx.post(url, json={"model": LLM}, headers={"authorization": "Bearer t", "cf-aig-gateway-id": "default"})
    assert r.status_code == 400 and r.json()["success"] is False  # no input: the route's own answer
