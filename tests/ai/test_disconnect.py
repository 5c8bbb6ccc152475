"""A client that leaves a chat stream early stops the generation, and the model serves the next request at once —
on every streaming path (Workers AI `/ai/run`, `/ai/v1`, AI Search chat, the gateway's workers-ai provider),
left the way the real SDKs leave (the cloudflare SDK's `with_streaming_response`, the openai SDK's `close()`).
Afterwards SIGTERM stops kumo promptly."""

from __future__ import annotations

import os
import time
import uuid

import cloudflare
import httpx
import openai
import pytest

from tests.aisearch.helpers import upload
from tests.conftest import Server

LLM = "@cf/meta/llama-3.1-8b-instruct"
LONG = [{"role": "user", "content": "Write a very long story about a dragon who learns to bake bread. "
                                    "Describe every day of the dragon's life in detail."}]
MAX_TOKENS = 3000  # minutes of generation on this machine if nothing stopped it


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("disconnect") / "data").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def account() -> str:
    return "acct-" + uuid.uuid4().hex[:12]


@pytest.fixture(scope="module")
def cf(own):
    client = cloudflare.Cloudflare(api_token="t", base_url=own.url + "/client/v4", max_retries=0, timeout=60)
    yield client
    client.close()


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _assert_model_free(own: Server, cf, account: str) -> None:
    """Generation burns most of a core; once stopped, kumo is idle. Then the next request is served at once."""
    time.sleep(0.5)
    before = _cpu_seconds(own.proc.pid)
    time.sleep(1.5)
    burned = _cpu_seconds(own.proc.pid) - before
    assert burned < 0.35, f"kumo burned {burned:.2f} s of CPU in 1.5 s after the client left: still generating"
    started = time.monotonic()
    answer = cf.ai.run(LLM, account_id=account, prompt="Say hi.", max_tokens=3, timeout=20)
    assert answer["response"] is not None
    assert time.monotonic() - started < 10


def test_cloudflare_sdk_leaving_an_ai_run_stream(own, cf, account):
    for _ in range(2):  # twice: the first stream's leaving must not have left anything behind
        with cf.ai.with_streaming_response.run(LLM, account_id=account, messages=LONG, stream=True,
                                               max_tokens=MAX_TOKENS) as response:
            first = next(line for line in response.iter_lines() if line.startswith("data: "))
            assert '"response"' in first
        _assert_model_free(own, cf, account)


def test_openai_sdk_closing_a_v1_stream(own, cf, account):
    oa = openai.OpenAI(api_key="t", base_url=f"{own.url}/client/v4/accounts/{account}/ai/v1", max_retries=0)
    stream = oa.chat.completions.create(model=LLM, messages=LONG, max_tokens=MAX_TOKENS, stream=True)
    chunks = iter(stream)
    next(chunks)
    assert next(chunks).choices[0].delta.content
    stream.close()
    _assert_model_free(own, cf, account)
    oa.close()


def test_leaving_an_ai_search_chat_stream(own, cf, account):
    cf.aisearch.namespaces.instances.create("default", account_id=account, id="dragons")
    upload(cf, account, "dragons", "bread.md", b"# Bread\n\nDragons bake bread at dawn in stone ovens.")
    with cf.aisearch.namespaces.instances.with_streaming_response.chat_completions(
            "dragons", account_id=account, name="default", messages=LONG, stream=True,
            extra_body={"max_tokens": MAX_TOKENS}) as response:
        first = next(line for line in response.iter_lines() if line.startswith("data: "))
        assert "bread.md" in first
    _assert_model_free(own, cf, account)


def test_openai_sdk_closing_a_gateway_workers_ai_stream(own, cf, account):
    admin = httpx.post(f"{own.url}/client/v4/accounts/{account}/ai-gateway/gateways",
                       headers={"authorization": "Bearer t"}, json={"id": "gw", "collect_logs": True, "cache_invalidate_on_update": False, "cache_ttl": None,
                             "rate_limiting_interval": None, "rate_limiting_limit": None})
    assert admin.status_code == 200, admin.text
    oa = openai.OpenAI(api_key="t", base_url=f"{own.url}/v1/{account}/gw/workers-ai/v1", max_retries=0)
    stream = oa.chat.completions.create(model=LLM, messages=LONG, max_tokens=MAX_TOKENS, stream=True)
    chunks = iter(stream)
    next(chunks)
    next(chunks)
    stream.close()
    _assert_model_free(own, cf, account)
    # the envelope path of the same provider, left by the cloudflare SDK's raw streaming
    with httpx.stream("POST", f"{own.url}/v1/{account}/gw/workers-ai/{LLM}", headers={"authorization": "Bearer t"},
                      json={"messages": LONG, "max_tokens": MAX_TOKENS, "stream": True}, timeout=60) as response:
        next(line for line in response.iter_lines() if line.startswith("data: "))
    _assert_model_free(own, cf, account)
    oa.close()


def test_sigterm_after_a_disconnect_exits_promptly(own, cf, account):
    with cf.ai.with_streaming_response.run(LLM, account_id=account, messages=LONG, stream=True,
                                           max_tokens=MAX_TOKENS) as response:
        next(line for line in response.iter_lines() if line.startswith("data: "))
    started = time.monotonic()
    own.proc.terminate()
    own.proc.wait(20)
    assert time.monotonic() - started < 5
