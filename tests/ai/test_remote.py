"""The `remote` runtime against a real OpenAI-compatible server: another kumo's `/ai/v1` (llama.cpp behind it)."""

from __future__ import annotations

import json

import httpx
import openai

from tests.conftest import Server


def test_remote_model_through_another_server(tmp_path, server):
    upstream = f"{server.url}/client/v4/accounts/upstream/ai/v1"
    models = [
        {"name": "@cf/meta/llama-3.1-8b-instruct", "task": "text-generation", "runtime": "remote",
         "config": {"base_url": upstream, "model": "@cf/meta/llama-3.1-8b-instruct", "api_key_env": "UPSTREAM_KEY"}},
        {"name": "@cf/baai/bge-base-en-v1.5", "task": "text-embeddings", "runtime": "remote",
         "config": {"base_url": upstream, "model": "@cf/baai/bge-small-en-v1.5", "api_key_env": "UPSTREAM_KEY"}},
    ]
    front = Server(tmp_path / "front", env={"KUMO_MODELS": json.dumps(models), "UPSTREAM_KEY": "k"}).start()
    try:
        h = {"authorization": "Bearer t"}
        base = front.url + "/client/v4/accounts/a/ai/run/"
        r = httpx.post(base + "@cf/meta/llama-3.1-8b-instruct", json={"prompt": "Say hi", "max_tokens": 8, "seed": 2},
                       headers=h, timeout=60)
        assert r.status_code == 200, r.text
        assert r.headers["x-kumo-model"] == "@cf/meta/llama-3.1-8b-instruct"
        result = r.json()["result"]
        assert result["response"] and result["usage"]["completion_tokens"] <= 8
        with httpx.stream("POST", base + "@cf/meta/llama-3.1-8b-instruct", headers=h, timeout=60,
                          json={"prompt": "Count", "max_tokens": 6, "stream": True}) as s:
            lines = [line for line in s.iter_lines() if line]
        assert lines[-1] == "data: [DONE]" and "usage" in json.loads(lines[-2][6:])
        # tool calls streamed by the remote server reach the caller whole, as OpenAI deltas again
        oa = openai.OpenAI(api_key="t", base_url=front.url + "/client/v4/accounts/a/ai/v1", max_retries=0)
        tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
        with oa.chat.completions.stream(model="@cf/meta/llama-3.1-8b-instruct", tools=tools, tool_choice="required",
                                        messages=[{"role": "user", "content": "Weather in Rome?"}],
                                        max_tokens=200) as stream:
            final = stream.get_final_completion()
        oa.close()
        assert final.choices[0].message.tool_calls[0].function.name == "get_weather"
        assert "city" in json.loads(final.choices[0].message.tool_calls[0].function.arguments)
        r = httpx.post(base + "@cf/baai/bge-base-en-v1.5", json={"text": ["a", "b"]}, headers=h, timeout=60)
        assert r.json()["result"]["shape"] == [2, 384]  # what the remote server really returned
    finally:
        front.stop()


def test_remote_server_down_is_a_clear_error(tmp_path):
    models = [{"name": "@cf/meta/llama-3.1-8b-instruct", "task": "text-generation", "runtime": "remote",
               "config": {"base_url": "http://127.0.0.1:9/v1"}}]
    front = Server(tmp_path / "front", env={"KUMO_MODELS": json.dumps(models)}).start()
    try:
        r = httpx.post(front.url + "/client/v4/accounts/a/ai/run/@cf/meta/llama-3.1-8b-instruct",
                       json={"prompt": "x"}, headers={"authorization": "Bearer t"}, timeout=60)
        assert r.status_code == 503 and "did not answer" in r.json()["errors"][0]["message"]
    finally:
        front.stop()
