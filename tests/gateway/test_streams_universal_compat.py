"""Streams that fail never end cleanly; the universal endpoint falls over between steps (errors, timeouts,
streams that die before their first byte); /compat speaks OpenAI to every provider."""

from __future__ import annotations

import json
import uuid

import httpx
import openai
import pytest

from tests.gateway.conftest import make_gateway

STREAM = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "s"}], "stream": True}


def stream_lines(gw_server, acct, mode):
    with httpx.stream("POST", f"{gw_server.url}/v1/{acct}/gw/openai/chat/completions", json=STREAM,
                      headers={"authorization": "Bearer k", "x-fake": mode}, timeout=30) as r:
        return [line for line in r.iter_lines() if line]


@pytest.mark.parametrize("mode", ["cut", "stall"])
def test_broken_streams_end_with_an_error_event(gw_server, admin, acct, mode):
    make_gateway(admin)
    lines = stream_lines(gw_server, acct, mode)
    assert lines[-2] == "event: error" and json.loads(lines[-1][6:])["error"]["message"]
    assert "data: [DONE]" not in lines
    log = admin.get("/gateways/gw/logs").json()["result"][0]
    assert log["success"] is False


def test_a_stream_ended_after_its_finish_reason_is_complete_without_done(gw_server, admin, acct):
    make_gateway(admin)
    lines = stream_lines(gw_server, acct, "no-done")
    assert "data: [DONE]" not in lines and not any(line.startswith("event: error") for line in lines)
    assert '"finish_reason": "stop"' in lines[-1]
    assert admin.get("/gateways/gw/logs").json()["result"][0]["success"] is True


def test_openai_sdk_raises_on_a_cut_stream(gw_server, admin, acct):
    make_gateway(admin)
    client = openai.OpenAI(api_key="k", base_url=f"{gw_server.url}/v1/{acct}/gw/openai",
                           default_headers={"x-fake": "cut"}, max_retries=0)
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}],
                                                stream=True):
            pass


def test_malformed_chunk_passes_through_and_stream_still_completes(gw_server, admin, acct):
    make_gateway(admin)
    lines = stream_lines(gw_server, acct, "malformed")
    assert "data: {not json" in lines and lines[-1] == "data: [DONE]"


def step(provider, endpoint, query, **headers):
    return {"provider": provider, "endpoint": endpoint, "headers": {"authorization": "Bearer k", **headers},
            "query": query}


CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "u"}]}
MSG = {"model": "claude-3-5-haiku-latest", "max_tokens": 10, "messages": [{"role": "user", "content": "u"}]}


def test_universal_fallback(gw_server, admin, acct):
    make_gateway(admin)
    url = f"{gw_server.url}/v1/{acct}/gw"
    r = httpx.post(url, json=[step("openai", "chat/completions", CHAT)], timeout=30)
    assert r.status_code == 200 and r.headers["cf-aig-step"] == "0"
    r = httpx.post(url, json=[step("openai", "chat/completions", CHAT, **{"x-fake": "fail-always"}),
                              step("anthropic", "v1/messages", MSG)], timeout=30)
    assert r.status_code == 200 and r.headers["cf-aig-step"] == "1" and r.json()["type"] == "message"
    r = httpx.post(url, json=[{**step("openai", "chat/completions", CHAT, **{"x-fake": "hang"}),
                               "config": {"requestTimeout": 300}},
                              step("groq", "chat/completions", CHAT)], timeout=30)
    assert r.status_code == 200 and r.headers["cf-aig-step"] == "1"
    r = httpx.post(url, json=[{**step("openai", "chat/completions", {**CHAT, "stream": True},
                                    **{"x-fake": "stall-start"}), "config": {"requestTimeout": 500}},
                              step("openai", "chat/completions", {**CHAT, "stream": True})], timeout=30)
    assert r.headers["cf-aig-step"] == "1" and "data: [DONE]" in r.text  # died before its first byte: next step
    r = httpx.post(url, json=[{**step("openai", "chat/completions", CHAT, **{"x-fake": f"fail-once:u1-{uuid.uuid4().hex}"}),
                               "config": {"maxAttempts": 2, "retryDelay": 10}}], timeout=30)
    assert r.status_code == 200 and r.headers["cf-aig-step"] == "0"  # retried within the step
    r = httpx.post(url, json=[step("openai", "chat/completions", CHAT, **{"x-fake": "fail-always"}),
                              step("openai", "chat/completions", CHAT, **{"x-fake": "400"})], timeout=30)
    assert r.status_code == 400 and r.headers["cf-aig-step"] == "1"  # every step failed: the last answer
    r = httpx.post(url, json=step("openai", "chat/completions", CHAT), timeout=30)  # a single object
    assert r.status_code == 200
    steps = [l["step"] for l in admin.get("/gateways/gw/logs", params={"per_page": 50}).json()["result"]]
    assert 1 in steps and 0 in steps


@pytest.mark.parametrize("body", ["not json", "[]", '[{"provider": "nope", "endpoint": "x"}]', '[{"provider": "openai"}]'])
def test_universal_bad_requests(gw_server, admin, acct, body):
    make_gateway(admin)
    r = httpx.post(f"{gw_server.url}/v1/{acct}/gw", content=body, timeout=30)
    assert r.status_code == 400 and r.json()["error"]


@pytest.fixture
def compat(gw_server, acct):
    return openai.OpenAI(api_key="provider-key", base_url=f"{gw_server.url}/v1/{acct}/gw/compat", max_retries=0)


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-latest",
                                   "google-ai-studio/gemini-2.5-flash", "groq/llama-3.1-8b-instant",
                                   "mistral/mistral-small", "perplexity/sonar", "deepseek/deepseek-chat"])
def test_compat_plain_and_stream(admin, compat, fake, model):
    make_gateway(admin)
    done = compat.chat.completions.create(model=model, messages=[{"role": "system", "content": "be brief"},
                                                                 {"role": "user", "content": "hi"}], max_tokens=20)
    assert done.choices[0].message.content == "Hello from the fake provider."
    assert done.usage.total_tokens > 0
    sent = fake.requests[-1]
    if model.startswith("anthropic/"):
        assert sent["body"]["system"] == "be brief" and sent["headers"]["x-api-key"] == "provider-key"
    if model.startswith("google"):
        assert sent["body"]["systemInstruction"]["parts"][0]["text"] == "be brief"
    chunks = list(compat.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}],
                                                 stream=True, max_tokens=20))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the fake provider."
    logs = admin.get("/gateways/gw/logs").json()["result"]
    assert logs[0]["path"] == "compat/chat/completions" and logs[0]["provider"] == model.split("/")[0].replace(
        "perplexity", "perplexity-ai")


def test_compat_workers_ai_and_errors(admin, compat):
    make_gateway(admin)
    done = compat.chat.completions.create(model="workers-ai/@cf/meta/llama-3.1-8b-instruct",
                                          messages=[{"role": "user", "content": "hi"}], max_tokens=5)
    assert done.choices[0].message.content
    with pytest.raises(openai.BadRequestError):
        compat.chat.completions.create(model="nowhere/x", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError):
        compat.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])


@pytest.mark.parametrize("body", [
    {"model": "anthropic/claude-3-5-haiku-latest", "messages": "hi"},
    {"model": "anthropic/claude-3-5-haiku-latest", "messages": [{"role": "user", "content": "x"}],
     "tools": [{"type": "function", "function": {}}]},
    {"model": "google-ai-studio/gemini-2.5-flash", "messages": [{"no-role": 1}], "stop": 5},
])
def test_compat_malformed_requests_are_4xx(gw_server, admin, acct, body):
    make_gateway(admin)
    r = httpx.post(f"{gw_server.url}/v1/{acct}/gw/compat/chat/completions", json=body, timeout=30)
    assert 400 <= r.status_code < 500, r.text


def test_client_that_leaves_a_stream_is_logged(gw_server, admin, acct):
    make_gateway(admin)
    with httpx.stream("POST", f"{gw_server.url}/v1/{acct}/gw/openai/chat/completions", json=STREAM,
                      headers={"authorization": "Bearer k", "x-fake": "stall"}, timeout=30) as r:
        next(r.iter_lines())  # read one line, then hang up
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        logs = admin.get("/gateways/gw/logs").json()["result"]
        if logs:
            break
        time.sleep(0.2)
    assert logs and logs[0]["success"] is False
