"""`/ai/v1/chat/completions` streams tool calls in OpenAI's delta format (the openai SDK's own stream helper
assembles them), `stream` must be a boolean, and a prompt over the model's context is a quick 400 naming it."""

from __future__ import annotations

import json
import time

import cloudflare
import openai
import pytest

LLM = "@cf/meta/llama-3.1-8b-instruct"
WEATHER = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
ASK = [{"role": "user", "content": "What is the weather in Rome?"}]


@pytest.fixture
def oa(server, account):
    client = openai.OpenAI(api_key="t", base_url=f"{server.url}/client/v4/accounts/{account}/ai/v1", max_retries=0)
    yield client
    client.close()


def test_tool_calls_stream_as_openai_deltas(oa):
    chunks = list(oa.chat.completions.create(model=LLM, messages=ASK, tools=WEATHER, tool_choice="required",
                                             max_tokens=200, stream=True))
    deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []]
    assert deltas[0].id.startswith("call_") and deltas[0].type == "function"
    assert deltas[0].function.name == "get_weather" and deltas[0].function.arguments == ""
    arguments = "".join(d.function.arguments or "" for d in deltas if d.index == 0)
    assert isinstance(json.loads(arguments)["city"], str)
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]
    # the SDK's streaming helper (what agent frameworks build on) assembles the same call
    with oa.chat.completions.stream(model=LLM, messages=ASK, tools=WEATHER, tool_choice="required",
                                    max_tokens=200) as stream:
        final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and "city" in json.loads(call.function.arguments)
    assert final.choices[0].finish_reason == "tool_calls"


def test_tools_offered_but_plain_answer_streams_as_content(oa):
    chunks = list(oa.chat.completions.create(
        model=LLM, messages=[{"role": "user", "content": "Say hello, do not call any tool."}], tools=WEATHER,
        tool_choice="none", max_tokens=12, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
    assert not any(c.choices and c.choices[0].delta.tool_calls for c in chunks)


def test_stream_must_be_a_boolean(oa):
    for bad in ("x", 1, {"a": 1}):
        with pytest.raises(openai.BadRequestError) as err:
            oa.chat.completions.create(model=LLM, messages=ASK, max_tokens=4, extra_body={"stream": bad})
        assert "stream" in err.value.body["message"]
    with pytest.raises(openai.BadRequestError) as err:
        oa.chat.completions.create(model=LLM, messages=ASK, max_tokens=4, stream=True,
                                   extra_body={"stream_options": ["include_usage"]})
    assert "stream_options" in err.value.body["message"]
    done = oa.chat.completions.create(model=LLM, messages=ASK, max_tokens=4, extra_body={"stream": None})
    assert done.object == "chat.completion"


def test_prompt_over_the_context_is_a_quick_400_naming_it(oa, cf, account):
    long = "word " * 20_000  # ~20k tokens, over the 8,192-token window
    started = time.monotonic()
    with pytest.raises(openai.BadRequestError) as err:
        oa.chat.completions.create(model=LLM, messages=[{"role": "user", "content": long}], max_tokens=16)
    message = err.value.body["message"]
    assert "tokens" in message and "context window of 8192 tokens" in message
    # megabytes of messages are refused from their size alone, before any templating or tokenizing
    huge = [{"role": "user", "content": "x" * 131_072}] * 100
    with pytest.raises(openai.BadRequestError) as err:
        oa.chat.completions.create(model=LLM, messages=huge, max_tokens=16)
    assert "at least" in err.value.body["message"] and "8192" in err.value.body["message"]
    with pytest.raises(cloudflare.BadRequestError) as err:
        cf.ai.run(LLM, account_id=account, prompt=long, max_tokens=16, stream=True)
    assert "context window" in str(err.value)
    assert time.monotonic() - started < 20
    # and the model still answers at once
    assert oa.chat.completions.create(model=LLM, messages=ASK, max_tokens=4).choices[0].message.content
