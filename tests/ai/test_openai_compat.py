"""The OpenAI SDK on `/ai/v1`: chat (plain and streamed), JSON mode, tools, embeddings (base64 by default)."""

from __future__ import annotations

import json

import numpy as np
import openai
import pytest

LLM = "@cf/meta/llama-3.1-8b-instruct"
EMBED = "@cf/baai/bge-small-en-v1.5"


@pytest.fixture
def oa(server, account):
    client = openai.OpenAI(api_key="t", base_url=f"{server.url}/client/v4/accounts/{account}/ai/v1", max_retries=0)
    yield client
    client.close()


def test_chat(oa):
    done = oa.chat.completions.create(model=LLM, messages=[{"role": "user", "content": "Say hello."}], max_tokens=10)
    assert done.object == "chat.completion" and done.choices[0].message.role == "assistant"
    assert done.choices[0].message.content and done.choices[0].finish_reason in ("stop", "length")
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens


def test_chat_stream_with_usage(oa):
    stream = oa.chat.completions.create(model=LLM, messages=[{"role": "user", "content": "Count to three."}],
                                        max_tokens=12, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[-1].usage is not None and 1 <= chunks[-1].usage.completion_tokens <= 12
    assert any(c.choices and c.choices[0].finish_reason for c in chunks)


def test_json_mode_and_tools(oa):
    done = oa.chat.completions.create(
        model=LLM, messages=[{"role": "user", "content": "A JSON object with a key named ok."}], max_tokens=60,
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {
            "type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}}})
    assert isinstance(json.loads(done.choices[0].message.content)["ok"], bool)
    done = oa.chat.completions.create(
        model=LLM, messages=[{"role": "user", "content": "Weather in Rome?"}], max_tokens=60, tool_choice="required",
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
    call = done.choices[0].message.tool_calls[0]
    assert done.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    assert "city" in json.loads(call.function.arguments)


def test_embeddings_base64_and_float_agree(oa, cf, account):
    b64 = oa.embeddings.create(model=EMBED, input=["first text", "second text"])  # SDK asks base64
    flt = oa.embeddings.create(model=EMBED, input=["first text", "second text"], encoding_format="float")
    assert len(b64.data) == 2 and len(b64.data[0].embedding) == 384
    assert np.allclose(b64.data[1].embedding, flt.data[1].embedding, atol=1e-6)
    native = cf.ai.run(EMBED, account_id=account, text=["first text", "second text"])["data"]
    assert np.allclose(native, [d.embedding for d in flt.data], atol=1e-6)
    assert b64.usage.prompt_tokens > 0


def test_errors_are_openai_shaped(oa):
    with pytest.raises(openai.BadRequestError) as err:
        oa.chat.completions.create(model="@cf/none/x", messages=[{"role": "user", "content": "x"}])
    assert err.value.body["code"] == 5007
    with pytest.raises(openai.BadRequestError):
        oa.chat.completions.create(model=LLM, messages=[])
    with pytest.raises(openai.BadRequestError):
        oa.embeddings.create(model=EMBED, input=[""])
