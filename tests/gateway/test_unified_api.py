"""Cloudflare's unified REST API with third-party models, through the gateway to the fake provider: the OpenAI
SDK's Responses API and the Anthropic SDK's Messages API against `.../ai/v1` for every kind of provider (native
format, or translated through OpenAI chat), streams included; usage and cost logged; the caller's own provider
key or the stored one; third-party ids on `/ai/run` and `/ai/v1/embeddings`."""

from __future__ import annotations

import time
import uuid

import anthropic
import cloudflare
import httpx
import openai
import pytest

from tests.gateway.conftest import make_gateway

ANSWER = "Hello from the fake provider."
# (model as Cloudflare names it, the path the fake provider saw)
PROVIDERS = [
    ("openai/gpt-4o-mini", "/chat/completions"),
    ("anthropic/claude-3-5-haiku-latest", "/v1/messages"),
    ("google/gemini-2.0-flash", "/v1beta/models/gemini-2.0-flash"),
    ("groq/llama-3.1-8b-instant", "/chat/completions"),
]


def wait_logs(admin, gateway: str, count: int) -> list[dict]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # the log writer is asynchronous
        r = admin.get(f"/gateways/{gateway}/logs", params={"per_page": 50})
        if r.status_code == 200 and len(r.json()["result"]) >= count:
            return r.json()["result"]
        time.sleep(0.1)
    raise AssertionError(f"expected {count} log rows in {gateway}: {r.status_code} {r.text[:600]}")


@pytest.fixture
def v1(gw_server, acct) -> str:
    return f"{gw_server.url}/client/v4/accounts/{acct}/ai/v1"


def test_responses_api_for_every_kind_of_provider(v1, fake, admin):
    oa = openai.OpenAI(api_key="t", base_url=v1, max_retries=0)
    # OpenAI speaks the Responses API: the request reaches it as sent, only the model id changes
    native = oa.responses.create(model="openai/gpt-4o-mini", input="Say hello.", max_output_tokens=20)
    assert native.output_text == ANSWER
    assert fake.requests[-1]["path"] == "/responses" and fake.requests[-1]["body"]["model"] == "gpt-4o-mini"
    assert fake.requests[-1]["body"]["max_output_tokens"] == 20
    for model, path in PROVIDERS[1:]:
        answer = oa.responses.create(model=model, instructions="Be brief.", max_output_tokens=30,
                                     input=[{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}])
        assert answer.output_text == ANSWER and answer.status == "completed" and answer.model == model
        assert answer.usage.output_tokens == 6 and answer.usage.input_tokens > 0
        seen = fake.requests[-1]
        assert seen["path"].startswith(path)
        if model.startswith("anthropic/"):
            assert seen["body"]["system"] == "Be brief." and seen["body"]["max_tokens"] == 30
    for model, _ in PROVIDERS:
        events = list(oa.responses.create(model=model, input="hi", stream=True))
        kinds = [e.type for e in events]
        assert kinds[0] == "response.created" and kinds[-1] == "response.completed", kinds
        assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == ANSWER
        assert events[-1].response.usage.output_tokens > 0
    with oa.responses.stream(model="anthropic/claude-3-5-haiku-latest", input="hi") as stream:
        assert stream.get_final_response().output_text == ANSWER
    rows = wait_logs(admin, "default", 1 + 3 + 4 + 1)
    assert all(row["success"] and row["tokens_out"] for row in rows)
    assert {row["provider"] for row in rows} == {"openai", "anthropic", "google-ai-studio", "groq"}
    priced = [row for row in rows if row["provider"] in ("openai", "anthropic")]
    assert all(row["cost"] and row["cost"] > 0 for row in priced)


def test_messages_api_for_every_kind_of_provider(v1, fake, admin):
    # Cloudflare's docs give the Anthropic SDK `.../ai/v1` as its base URL (it adds /v1/messages): both work
    for base in (v1, v1.removesuffix("/v1")):
        client = anthropic.Anthropic(api_key="t", base_url=base, max_retries=0)
        for model, path in PROVIDERS:
            message = client.messages.create(model=model, max_tokens=40, system="Be brief.",
                                              messages=[{"role": "user", "content": "hi"}])
            assert message.content[0].text == ANSWER and message.stop_reason == "end_turn"
            assert message.usage.output_tokens == 6 and message.model in (model, model.split("/", 1)[1])
            seen = fake.requests[-1]
            assert seen["path"].startswith(path)  # and the Cloudflare token stayed here
            assert not {"t", "Bearer t"} & {seen["headers"].get("x-api-key"), seen["headers"].get("authorization")}
            if model.startswith("openai/"):
                assert seen["body"]["messages"][0] == {"role": "system", "content": "Be brief."}
                assert seen["body"]["max_tokens"] == 40
    client = anthropic.Anthropic(api_key="t", base_url=v1, max_retries=0)
    for model, _ in PROVIDERS:
        with client.messages.stream(model=model, max_tokens=40, messages=[{"role": "user", "content": "hi"}]) as s:
            text = "".join(s.text_stream)
            final = s.get_final_message()
        assert text == ANSWER and final.stop_reason == "end_turn" and final.usage.output_tokens == 6
        events = [e.type for e in client.messages.create(model=model, max_tokens=40, stream=True,
                                                         messages=[{"role": "user", "content": "hi"}])]
        assert events[0] == "message_start" and events[-2:] == ["message_delta", "message_stop"]
    rows = wait_logs(admin, "default", 2 * 4 + 2 * 4)
    assert all(row["success"] and row["tokens_out"] for row in rows)
    assert {row["path"] for row in rows if row["provider"] == "openai"} == {"ai/v1/messages"}


def test_settings_the_translation_cannot_carry_are_refused_by_name(v1, fake):
    oa = openai.OpenAI(api_key="t", base_url=v1, max_retries=0)
    with pytest.raises(openai.BadRequestError, match="previous_response_id"):
        oa.responses.create(model="anthropic/claude-3-5-haiku-latest", input="hi", previous_response_id="resp_1")
    with pytest.raises(openai.BadRequestError, match="web_search"):
        oa.responses.create(model="groq/llama-3.1-8b-instant", input="hi", tools=[{"type": "web_search"}])
    client = anthropic.Anthropic(api_key="t", base_url=v1, max_retries=0)
    with pytest.raises(anthropic.BadRequestError, match="thinking"):
        client.messages.create(model="openai/gpt-4o-mini", max_tokens=10, messages=[{"role": "user", "content": "x"}],
                               thinking={"type": "enabled", "budget_tokens": 1024})
    with pytest.raises(anthropic.BadRequestError, match="unknown provider"):
        client.messages.create(model="nobody/model", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    r = httpx.post(f"{v1}/messages", content=b"{not json", headers={"authorization": "Bearer t"})
    assert r.status_code == 400 and r.json()["type"] == "error"


def test_the_callers_own_provider_key_or_the_stored_one_never_logged(gw_server, v1, fake, admin, acct):
    make_gateway(admin, "own", collect_logs=True)
    own_openai = "sk-" + uuid.uuid4().hex  # a caller's key (built here: no key-shaped literal in the tests)
    own_anthropic = "sk-ant-" + uuid.uuid4().hex
    auth = {"cf-aig-authorization": "Bearer t", "cf-aig-gateway-id": "own"}
    oa = openai.OpenAI(api_key=own_openai, base_url=v1, max_retries=0, default_headers=auth)
    assert oa.responses.create(model="openai/gpt-4o-mini", input="hi").output_text == ANSWER
    assert fake.requests[-1]["headers"]["authorization"] == f"Bearer {own_openai}"
    assert oa.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert fake.requests[-1]["headers"]["authorization"] == f"Bearer {own_openai}"
    client = anthropic.Anthropic(api_key=own_anthropic, base_url=v1, max_retries=0, default_headers=auth)
    assert client.messages.create(model="anthropic/claude-3-5-haiku-latest", max_tokens=9,
                                  messages=[{"role": "user", "content": "hi"}]).content[0].text == ANSWER
    assert fake.requests[-1]["headers"]["x-api-key"] == own_anthropic
    # without cf-aig-authorization, Authorization is the Cloudflare token: it never reaches the provider
    openai.OpenAI(api_key="t", base_url=v1, max_retries=0, default_headers={"cf-aig-gateway-id": "own"}
                  ).responses.create(model="openai/gpt-4o-mini", input="hi")
    assert "authorization" not in fake.requests[-1]["headers"]
    # a stored key serves the caller who sends none
    stored = "sk-" + uuid.uuid4().hex
    cf = cloudflare.Cloudflare(api_token="t", base_url=gw_server.url + "/client/v4", max_retries=0)
    cf.ai_gateway.provider_configs.create("own", account_id=acct, alias="default", default_config=True,
                                          provider_slug="openai", secret=stored)
    openai.OpenAI(api_key="t", base_url=v1, max_retries=0, default_headers={"cf-aig-gateway-id": "own"}
                  ).responses.create(model="openai/gpt-4o-mini", input="hi", stream=True).close()
    assert fake.requests[-1]["headers"]["authorization"] == f"Bearer {stored}"
    rows = wait_logs(admin, "own", 5)
    for row in rows:
        for part in ("", "/request", "/response"):
            detail = admin.get(f"/gateways/own/logs/{row['id']}{part}").text
            assert own_openai not in detail and own_anthropic not in detail and stored not in detail
    assert own_openai not in admin.get("/gateways/own/logs").text


def test_third_party_ids_on_run_and_embeddings(gw_server, v1, fake, admin, acct):
    cf = cloudflare.Cloudflare(api_token="t", base_url=gw_server.url + "/client/v4", max_retries=0)
    answer = cf.ai.run("openai/gpt-4o-mini", account_id=acct, messages=[{"role": "user", "content": "hi"}],
                       max_tokens=12)
    assert answer["choices"][0]["message"]["content"] == ANSWER
    assert fake.requests[-1]["body"]["max_tokens"] == 12 and fake.requests[-1]["body"]["model"] == "gpt-4o-mini"
    r = httpx.post(f"{gw_server.url}/client/v4/accounts/{acct}/ai/run", headers={"authorization": "Bearer t"},
                   json={"model": "anthropic/claude-3-5-haiku-latest", "input": {"prompt": "hi", "max_tokens": 9}})
    assert r.status_code == 200 and r.json()["result"]["choices"][0]["message"]["content"] == ANSWER
    assert fake.requests[-1]["path"] == "/v1/messages" and fake.requests[-1]["body"]["max_tokens"] == 9
    vectors = cf.ai.run("openai/text-embedding-3-small", account_id=acct, text=["a", "b"])
    assert vectors["shape"] == [2, 3] and len(vectors["data"]) == 2
    oa = openai.OpenAI(api_key="t", base_url=v1, max_retries=0)
    embedded = oa.embeddings.create(model="openai/text-embedding-3-small", input=["a", "b", "c"])
    assert len(embedded.data) == 3 and fake.requests[-1]["body"]["model"] == "text-embedding-3-small"
    with pytest.raises(openai.BadRequestError, match="anthropic"):
        oa.embeddings.create(model="anthropic/claude-3-5-haiku-latest", input="a")
    rows = wait_logs(admin, "default", 4)
    embeddings = [row for row in rows if row["model"] == "text-embedding-3-small"]
    assert len(embeddings) == 2 and all(row["tokens_in"] and row["cost"] for row in embeddings)


def test_the_batch_api_refuses_a_gateway(gw_server, acct):
    url = f"{gw_server.url}/client/v4/accounts/{acct}/ai/run/@cf/meta/llama-3.1-8b-instruct?queueRequest=true"
    r = httpx.post(url, json={"requests": [{"prompt": "hi"}]},
                   headers={"authorization": "Bearer t", "cf-aig-gateway-id": "default"})
    assert r.status_code == 400 and "cf-aig-gateway-id" in r.json()["errors"][0]["message"]


def test_langchain_ai_gateway_unchanged(gw_server, fake, admin, acct):
    """langchain-cloudflare's `ai_gateway=` sends `cf-aig-gateway-id` on `/ai/run/{model}` (or
    `/ai/v1/chat/completions`): third-party and Workers AI models alike are logged in that gateway."""
    from langchain_cloudflare import ChatCloudflareWorkersAI, CloudflareWorkersAIEmbeddings

    make_gateway(admin, "lc")
    common = {"account_id": acct, "api_token": "t", "ai_gateway": "lc"}
    chat = ChatCloudflareWorkersAI(model="openai/gpt-4o-mini", base_url=f"{gw_server.url}/client/v4", **common)
    assert chat.invoke("Say hello.").content == ANSWER
    assert "".join(str(part.content) for part in chat.stream("Say hello.")) == ANSWER
    compatible = ChatCloudflareWorkersAI(model="anthropic/claude-3-5-haiku-latest", endpoint_format="openai_compatible",
                                         base_url=f"{gw_server.url}/client/v4", **common)
    assert compatible.invoke("Say hello.").content == ANSWER and fake.requests[-1]["path"] == "/v1/messages"
    api_base = f"{gw_server.url}/client/v4/accounts"
    third = CloudflareWorkersAIEmbeddings(model_name="openai/text-embedding-3-small", api_base_url=api_base, **common)
    assert third.embed_documents(["a", "b"]) == [[0.1, 0.2, 0.3]] * 2
    local = CloudflareWorkersAIEmbeddings(model_name="@cf/baai/bge-small-en-v1.5", api_base_url=api_base, **common)
    assert len(local.embed_query("hello")) == 384
    rows = wait_logs(admin, "lc", 5)
    assert {row["provider"] for row in rows} == {"openai", "anthropic", "workers-ai"}
    assert all(row["success"] for row in rows)
