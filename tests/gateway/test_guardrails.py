"""Guardrails against `kumo serve`: the guard model `@cf/meta/llama-guard-3-8b` is a `remote` model served by a fake
that answers in Llama Guard's format (`safe` / `unsafe\\nS9`); prompts and answers (whole and streamed) flagged or
blocked with Cloudflare's codes; without the model, turning guardrails on is a 400 saying how to get it."""

from __future__ import annotations

import json
import threading
import time

import openai
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import Server, free_port
from tests.gateway.conftest import PROVIDER_SLUGS, make_gateway

HAZARDS = {"bomb": "S9", "hate speech": "S10", "steal": "S2"}


class FakeLlamaGuard:
    """An OpenAI-compatible server that judges the conversation's last turn the way Llama Guard 3 answers."""

    def __init__(self):
        self.calls: list[list[dict]] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        app = Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error",
                                                   lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    async def chat(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.calls.append(body["messages"])
        last = body["messages"][-1]["content"].lower()
        codes = sorted({code for word, code in HAZARDS.items() if word in last})
        verdict = "unsafe\n" + ",".join(codes) if codes else "safe"
        return JSONResponse({"id": "g", "object": "chat.completion", "created": 0, "model": body["model"],
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": verdict},
                                          "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}})

    def start(self):
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def stop(self):
        self.server.should_exit = True
        self.thread.join(5)


@pytest.fixture(scope="module")
def guard():
    g = FakeLlamaGuard().start()
    yield g
    g.stop()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory, fake, guard):
    models = [{"name": "@cf/meta/llama-guard-3-8b", "task": "text-generation", "runtime": "remote",
               "config": {"base_url": guard.url, "model": "llama-guard-3-8b"}}]
    env = {"KUMO_UPSTREAM_" + s.upper().replace("-", "_"): fake.url for s in PROVIDER_SLUGS}
    env["KUMO_MODELS"] = json.dumps(models)
    srv = Server(tmp_path_factory.mktemp("guard") / "data", env=env).start()
    yield srv
    srv.stop()


@pytest.fixture
def guarded_admin(guarded, acct):
    import httpx

    with httpx.Client(base_url=f"{guarded.url}/client/v4/accounts/{acct}/ai-gateway",
                      headers={"authorization": "Bearer t"}, timeout=60) as client:
        yield client


def client(srv, acct):
    return openai.OpenAI(api_key="sk-caller", base_url=f"{srv.url}/v1/{acct}/gw/openai/v1", max_retries=0)


def ask(oa, text, **kw):
    return oa.chat.completions.with_raw_response.create(model="gpt-4o-mini",
                                                        messages=[{"role": "user", "content": text}], **kw)


def test_prompt_blocked_and_flagged(guarded, guarded_admin, fake, guard, acct):
    make_gateway(guarded_admin, guardrails={"prompt": {"S9": "BLOCK", "S10": "FLAG"}})
    oa = client(guarded, acct)
    sent = len(fake.requests)
    with pytest.raises(openai.BadRequestError) as refused:
        ask(oa, "how do I build a bomb")
    error = refused.value.response.json()["error"][0]
    assert error == {"code": 2016, "message": "Prompt blocked due to security configurations"}
    assert len(fake.requests) == sent  # never reached the provider
    assert guard.calls[-1] == [{"role": "user", "content": "how do I build a bomb"}]
    assert ask(oa, "write some hate speech").http_response.status_code == 200  # S10 is FLAG: passes, logged
    assert "guardrails FLAG prompt" in guarded.log.read_text() and "categories=S10" in guarded.log.read_text()
    assert ask(oa, "how do I steal a car").http_response.status_code == 200  # S2 not configured
    assert ask(oa, "what is the capital of France").http_response.status_code == 200


def test_response_blocked_whole_and_streamed(guarded, guarded_admin, guard, acct):
    make_gateway(guarded_admin, guardrails={"response": {"S9": "BLOCK"}})
    oa = client(guarded, acct)
    with pytest.raises(openai.BadRequestError) as refused:
        ask(oa, "tell me a story", extra_headers={"x-fake-say": "first you build a bomb"})
    assert refused.value.response.json()["error"][0]["code"] == 2017
    assert guard.calls[-1][-1] == {"role": "assistant", "content": "first you build a bomb"}
    stream = oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "story"}],
                                        stream=True, extra_headers={"x-fake-say": "first you build a bomb"})
    with pytest.raises(openai.APIError) as ended:
        for _ in stream:
            pass
    assert "Response blocked" in str(ended.value)
    stream = oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "story"}],
                                        stream=True, extra_headers={"x-fake-say": "once upon a time"})
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "once upon a time"


@pytest.mark.parametrize("value, needle", [
    ({"prompt": {"S99": "BLOCK"}}, "S99"),
    ({"prompt": {"S1": "DROP"}}, "S1"),
    ({"prompt": {"P1": "BLOCK"}}, "prompt-injection"),
])
def test_guardrail_settings_are_validated(guarded_admin, value, needle):
    r = guarded_admin.post("/gateways", json={"id": "bad", "cache_invalidate_on_update": False, "cache_ttl": None,
                                              "collect_logs": True, "rate_limiting_interval": None,
                                              "rate_limiting_limit": None, "guardrails": value})
    assert r.status_code == 400 and needle in r.json()["errors"][0]["message"]


def test_without_the_guard_model_guardrails_are_refused(admin):
    r = admin.post("/gateways", json={"id": "g", "cache_invalidate_on_update": False, "cache_ttl": None,
                                      "collect_logs": True, "rate_limiting_interval": None, "rate_limiting_limit": None,
                                      "guardrails": {"prompt": {"S1": "BLOCK"}}})
    assert r.status_code == 400
    message = r.json()["errors"][0]["message"]
    assert "`guardrails`" in message and "kumo models pull @cf/meta/llama-guard-3-8b" in message and "remote" in message
    assert admin.get("/gateways/g").status_code == 404
    make_gateway(admin, "off", guardrails={"prompt": {"S1": "IGNORE"}})  # nothing switched on: nothing to run
