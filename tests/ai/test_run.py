"""Workers AI `/ai/run` with the official `cloudflare` SDK and raw HTTP, on real models."""

from __future__ import annotations

import base64
import json

import cloudflare
import httpx
import numpy as np
import pytest

LLM = "@cf/meta/llama-3.1-8b-instruct"
EMBED = "@cf/baai/bge-small-en-v1.5"
AUTH = {"authorization": "Bearer t"}


def test_embeddings_stand_in_declared(cf, account):
    result = cf.ai.run(EMBED, account_id=account, text=["a cat sits on the mat", "a kitten rests on a rug",
                                                         "quarterly revenue grew by ten percent"])
    assert result["shape"] == [3, 384] and result["pooling"] == "mean"
    v = np.array(result["data"])
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-3)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2  # a real model: paraphrases are closer than unrelated text
    raw = cf.ai.with_raw_response.run(EMBED, account_id=account, text="x")
    assert raw.headers["x-kumo-model"] == "@kumo/all-minilm-l6-v2-int8"
    assert raw.headers["cf-ai-req-id"]


def test_cls_pooling_differs(cf, account):
    mean = cf.ai.run(EMBED, account_id=account, text="hello world")["data"][0]
    cls = cf.ai.run(EMBED, account_id=account, text="hello world", extra_body={"pooling": "cls"})
    assert cls["pooling"] == "cls" and not np.allclose(mean, cls["data"][0])


def test_raw_slashes_and_percent_encoding(http, account):
    for path in (f"/client/v4/accounts/{account}/ai/run/{EMBED}",
                 f"/client/v4/accounts/{account}/ai/run/{EMBED.replace('/', '%2F')}"):
        r = http.post(path, json={"text": "hi"})
        assert r.status_code == 200 and r.json()["result"]["shape"] == [1, 384]


def test_unified_run_endpoint(http, ai_url):
    r = http.post(f"{ai_url}/run", json={"model": EMBED, "input": {"text": "hi"}})
    assert r.status_code == 200 and r.json()["result"]["shape"] == [1, 384]
    assert http.post(f"{ai_url}/run", json={"input": {"text": "hi"}}).status_code == 400


def test_chat_prompt_and_messages(cf, account):
    result = cf.ai.run(LLM, account_id=account, prompt="What is the capital of France?", max_tokens=24, seed=7)
    assert isinstance(result["response"], str) and result["response"].strip()
    usage = result["usage"]
    assert usage["completion_tokens"] <= 24 and usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    result = cf.ai.run(LLM, account_id=account, messages=[{"role": "system", "content": "Answer briefly."},
                                                          {"role": "user", "content": "Say hello."}], max_tokens=8)
    assert result["usage"]["completion_tokens"] <= 8


def test_seed_makes_answers_repeatable(http, ai_url):
    body = {"prompt": "Write a word.", "max_tokens": 12, "seed": 42, "temperature": 1.0}
    a = http.post(f"{ai_url}/run/{LLM}", json=body).json()["result"]["response"]
    b = http.post(f"{ai_url}/run/{LLM}", json=body).json()["result"]["response"]
    assert a == b


def test_streaming_sse(cf, account):
    with cf.ai.with_streaming_response.run(LLM, account_id=account, prompt="Count to five.", stream=True,
                                           max_tokens=16) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-kumo-model"] == "@kumo/smollm2-135m-instruct"
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    events = [json.loads(line[6:]) for line in lines[:-1]]
    assert all("response" in e for e in events)
    assert events[-1]["response"] == "" and 1 <= events[-1]["usage"]["completion_tokens"] <= 16
    assert "".join(e["response"] for e in events).strip()


def test_json_mode_follows_schema(http, ai_url):
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
              "required": ["city", "population"]}
    r = http.post(f"{ai_url}/run/{LLM}", json={
        "messages": [{"role": "user", "content": "Give the largest city of Japan and its population as JSON."}],
        "response_format": {"type": "json_schema", "json_schema": schema}, "max_tokens": 120, "seed": 3})
    assert r.status_code == 200, r.text
    answer = r.json()["result"]["response"]
    assert isinstance(answer, dict) and isinstance(answer["city"], str) and isinstance(answer["population"], int)


def test_tool_calls_shape(http, ai_url):
    tools = [{"name": "get_weather", "description": "Current weather of a city",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
    r = http.post(f"{ai_url}/run/{LLM}", json={
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}], "tools": tools,
        "tool_choice": "required", "max_tokens": 60})
    result = r.json()["result"]
    assert result["tool_calls"] and result["tool_calls"][0]["name"] == "get_weather"
    assert isinstance(result["tool_calls"][0]["arguments"], dict) and "city" in result["tool_calls"][0]["arguments"]


def test_whisper_raw_bytes_and_array_and_base64(http, ai_url, speech):
    r = http.post(f"{ai_url}/run/@cf/openai/whisper", content=speech)
    assert r.status_code == 200, r.text
    assert r.headers["x-kumo-model"] == "@cf/openai/whisper-tiny-en"
    result = r.json()["result"]
    text = result["text"].lower()
    assert "fail better" in text and "try again" in text
    assert result["word_count"] == len(result["words"]) >= 10
    assert result["vtt"].startswith("WEBVTT")
    assert all(w["end"] >= w["start"] for w in result["words"])
    r = http.post(f"{ai_url}/run/@cf/openai/whisper-tiny-en", json={"audio": list(speech)})
    assert r.headers["x-kumo-model"] == "@cf/openai/whisper-tiny-en"  # its own weights: no stand-in
    assert "fail better" in r.json()["result"]["text"].lower()
    r = http.post(f"{ai_url}/run/@cf/openai/whisper-large-v3-turbo",
                  json={"audio": base64.b64encode(speech).decode()})
    result = r.json()["result"]
    assert result["segments"] and result["transcription_info"]["duration"] == pytest.approx(10, abs=1)


def test_models_search_and_schema(cf, account):
    models = list(cf.ai.models.list(account_id=account, task="Text Generation", per_page=5))
    names = [m["name"] for m in models]
    assert LLM in names and all(m["task"]["name"] == "Text Generation" for m in models)
    page = cf.ai.models.list(account_id=account, search="bge", per_page=2)
    assert len(page.result) == 2
    schema = cf.ai.models.schema.get(account_id=account, model=EMBED)
    assert schema.input.properties["text"] and schema.output.properties["shape"]


def test_models_search_pages_like_the_sdk(http, ai_url):
    seen, page = [], 1
    while True:
        r = http.get(f"{ai_url}/models/search", params={"page": page, "per_page": 7}).json()
        if not r["result"]:
            break
        seen += [m["name"] for m in r["result"]]
        assert r["result_info"]["total_count"] >= len(seen)
        page += 1
    assert len(seen) == len(set(seen)) and "@cf/openai/whisper" in seen


def check(r: httpx.Response, status: int, code: int | None = None, needle: str | None = None) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is False
    if code is not None:
        assert body["errors"][0]["code"] == code
    if needle is not None:
        assert needle.lower() in body["errors"][0]["message"].lower()


@pytest.mark.parametrize(
    "model, body, code, needle",
    [
        (EMBED, {"text": [f"t{i}" for i in range(101)]}, 5006, "bad input"),
        (EMBED, {"text": ""}, 5006, "bad input"),
        (EMBED, {"text": 5}, 5006, "bad input"),
        (EMBED, {"texts": ["x"]}, 5006, "text"),
        (EMBED, {"text": "x", "pooling": "max"}, 5006, "pooling"),
        (LLM, {"max_tokens": 5}, 5006, "bad input"),
        (LLM, {"prompt": "x", "temperature": 9}, 5006, "bad input"),
        (LLM, {"prompt": "x", "max_tokens": "5"}, 5006, "bad input"),
        (LLM, {"messages": [{"role": "robot", "content": "x"}]}, 5006, "bad input"),
        (LLM, {"prompt": "x", "stream": True, "response_format": {"type": "json_object"}}, None, "streaming"),
        (LLM, {"prompt": "x", "max_tokens": 100000}, None, "context window"),
        ("@cf/openai/whisper", {"audio": "%%%not-base64"}, 5004, "base64"),
        ("@cf/openai/whisper", {"audio": [1, 300]}, 5006, "0 to 255"),
        ("@cf/openai/whisper", {"audio": list(b"not audio at all")}, None, "decode"),
        ("@cf/nope/model", {"text": "x"}, 5007, "no such model"),
        ("@cf/baai/bge-base-en-v1.5", {"text": "x"}, 5007, "kumo models pull @cf/baai/bge-base-en-v1.5"),
        ("@cf/baai/bge-reranker-base", {"query": "q", "contexts": [{"text": "a"}]}, 5007, "kumo models pull"),
        ("@cf/microsoft/resnet-50", {"image": [1, 2, 3]}, 5007, "kumo models pull"),
        ("@cf/meta/m2m100-1.2b", {"text": "hi", "target_lang": "fr"}, 5007, "kumo models pull"),
        ("@cf/stabilityai/stable-diffusion-xl-base-1.0", {"prompt": "a cat"}, 5007, "kumo models pull"),
    ],
)
def test_bad_inputs(http, ai_url, model, body, code, needle):
    check(http.post(f"{ai_url}/run/{model}", json=body), 400, code, needle)


def test_broken_json_and_raw_bytes_to_text_model(http, ai_url):
    check(http.post(f"{ai_url}/run/{EMBED}", content=b'{"text": ', headers={"content-type": "application/json"}),
          400, 5006, "not valid json")
    check(http.post(f"{ai_url}/run/{EMBED}", content=b"\x00\x01binary"), 400, 5006, "json body")
    check(http.post(f"{ai_url}/run/@cf/openai/whisper", content=b""), 400)


def test_schema_of_unknown_model(http, ai_url):
    check(http.get(f"{ai_url}/models/schema", params={"model": "@cf/x/y"}), 400, 5007)
    check(http.get(f"{ai_url}/models/schema"), 400)


def test_sdk_raises_on_errors(cf, account):
    with pytest.raises(cloudflare.BadRequestError) as err:
        cf.ai.run("@cf/nope/model", account_id=account, text="x")
    assert err.value.errors[0].code == 5007


def test_concurrent_embeddings_are_batched_and_correct(server, account):
    import asyncio

    texts = [f"sentence number {i} about topic {i % 7}" for i in range(64)]
    url = f"{server.url}/client/v4/accounts/{account}/ai/run/{EMBED}"

    async def main():
        async with httpx.AsyncClient(headers=AUTH, timeout=60) as client:
            together = await asyncio.gather(*(client.post(url, json={"text": t}) for t in texts))
            alone = await client.post(url, json={"text": texts})
        return together, alone

    together, alone = asyncio.run(main())
    assert all(r.status_code == 200 for r in together)
    single = np.array([r.json()["result"]["data"][0] for r in together])
    batch = np.array(alone.json()["result"]["data"])
    assert np.allclose(single, batch, atol=2e-3)  # padding differs by batch; the vectors do not


def test_reject_if_busy(server, account):
    import threading

    url = f"{server.url}/client/v4/accounts/{account}/ai/run/{LLM}"
    started = threading.Event()

    def long_stream():
        with httpx.stream("POST", url, json={"prompt": "Tell a long story.", "stream": True, "max_tokens": 200,
                                             "seed": 1}, headers=AUTH, timeout=120) as r:
            for _ in r.iter_lines():
                started.set()

    t = threading.Thread(target=long_stream)
    t.start()
    assert started.wait(60)
    busy = httpx.post(url, json={"prompt": "hi", "max_tokens": 2, "options": {"rejectIfBusy": True}},
                      headers=AUTH, timeout=60)
    t.join()
    check(busy, 429, 3040, "capacity")
    after = httpx.post(url, json={"prompt": "hi", "max_tokens": 2, "options": {"rejectIfBusy": True}},
                       headers=AUTH, timeout=60)
    assert after.status_code == 200
