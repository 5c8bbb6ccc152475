"""OpenAI's Responses API and Anthropic's Messages API on Workers AI models (the local llama.cpp model), with the
openai and anthropic SDKs: served here, and through a gateway with `cf-aig-gateway-id` (logged there)."""

from __future__ import annotations

import time

import anthropic
import httpx
import openai

LLM = "@cf/meta/llama-3.1-8b-instruct"
ASK = [{"role": "user", "content": "Name a colour."}]


def test_responses_api_on_a_workers_ai_model(server, account):
    base = f"{server.url}/client/v4/accounts/{account}/ai/v1"
    oa = openai.OpenAI(api_key="t", base_url=base, max_retries=0)
    answer = oa.responses.create(model=LLM, input="Name a colour.", instructions="One word.", max_output_tokens=8,
                                 temperature=0)
    assert answer.output_text and answer.model == LLM and answer.usage.output_tokens > 0
    assert answer.status in ("completed", "incomplete")
    events = list(oa.responses.create(model=LLM, input=ASK, max_output_tokens=8, stream=True))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] in ("response.completed", "response.incomplete")
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text and events[-1].response.output[0].content[0].text == text
    r = httpx.post(f"{base}/responses", json={"model": LLM, "input": "x", "previous_response_id": "resp_1"},
                   headers={"authorization": "Bearer t"})
    assert r.status_code == 400 and "previous_response_id" in r.json()["error"]["message"]


def test_messages_api_on_a_workers_ai_model(server, account):
    base = f"{server.url}/client/v4/accounts/{account}/ai/v1"
    client = anthropic.Anthropic(api_key="t", base_url=base, max_retries=0)  # x-api-key carries the API token
    message = client.messages.create(model=LLM, max_tokens=8, messages=ASK, system="One word.")
    assert message.content[0].text and message.stop_reason in ("end_turn", "max_tokens")
    assert message.usage.output_tokens > 0
    with client.messages.stream(model=LLM, max_tokens=8, messages=ASK) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.content[0].text == text and final.usage.output_tokens > 0
    r = httpx.post(f"{base}/messages", json={"model": LLM, "messages": ASK}, headers={"authorization": "Bearer t"})
    assert r.status_code == 400 and r.json()["type"] == "error" and "max_tokens" in r.json()["error"]["message"]


def test_through_a_gateway_when_named(server, account):
    base = f"{server.url}/client/v4/accounts/{account}/ai/v1"
    named = {"cf-aig-gateway-id": "default"}
    done = openai.OpenAI(api_key="t", base_url=base, max_retries=0, default_headers=named
                         ).responses.with_raw_response.create(model=LLM, input="Name a colour.", max_output_tokens=6)
    assert done.parse().output_text and done.headers["cf-aig-log-id"]
    client = anthropic.Anthropic(api_key="t", base_url=base, max_retries=0, default_headers=named)
    with client.messages.stream(model=LLM, max_tokens=6, messages=ASK) as stream:
        assert "".join(stream.text_stream)
    admin = f"{server.url}/client/v4/accounts/{account}/ai-gateway/gateways/default/logs"
    deadline = time.monotonic() + 15
    rows: list = []
    while time.monotonic() < deadline and len(rows) < 2:  # the log writer is asynchronous
        rows = httpx.get(admin, headers={"authorization": "Bearer t"}).json()["result"]
        time.sleep(0.1)
    assert {row["path"] for row in rows} == {"ai/v1/responses", "ai/v1/messages"}
    assert all(row["provider"] == "workers-ai" and row["success"] and row["tokens_out"] for row in rows)
