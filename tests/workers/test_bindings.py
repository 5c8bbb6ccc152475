"""A real Worker's `env.AI`, `env.AI.gateway()` and `env.VECTORIZE` under miniflare, served by kumo: the results
and the errors are what the binding (workerd's own ai-api / aig-api / vectorize-api modules) makes of kumo's
answers, inside the Worker."""

from __future__ import annotations

import time
import uuid

import httpx

EMBEDDINGS = "@cf/baai/bge-small-en-v1.5"
LLM = "@cf/meta/llama-3.1-8b-instruct"
SENTENCES = {
    "cat": "The cat sleeps on the warm windowsill all afternoon.",
    "rust": "Rust's borrow checker prevents data races at compile time.",
    "bread": "Sourdough bread needs a starter, flour, water and salt.",
}


def test_embeddings_into_vectorize_and_back(probe):
    embedded = probe.ok("run", {"model": EMBEDDINGS, "inputs": {"text": list(SENTENCES.values())}})
    assert embedded["shape"] == [3, 384] and len(embedded["data"]) == 3
    vectors = [{"id": key, "values": values, "metadata": {"text": text}}
               for (key, text), values in zip(SENTENCES.items(), embedded["data"])]
    assert set(probe.ok("upsert", {"vectors": vectors})) == {"mutationId"}

    question = probe.ok("run", {"model": EMBEDDINGS, "inputs": {"text": ["Which pet naps in the sun?"]}})["data"][0]
    found = probe.ok("query", {"vector": question, "options": {"topK": 2, "returnMetadata": "all"}})
    assert found["count"] == 2 and found["matches"][0]["id"] == "cat"
    assert found["matches"][0]["metadata"] == {"text": SENTENCES["cat"]}
    assert found["matches"][0]["score"] > found["matches"][1]["score"]

    by_id = probe.ok("queryById", {"id": "rust", "options": {"topK": 1, "returnValues": True}})
    assert by_id["matches"][0]["id"] == "rust" and len(by_id["matches"][0]["values"]) == 384

    got = probe.ok("getByIds", {"ids": ["bread", "nope"]})
    assert [v["id"] for v in got] == ["bread"] and got[0]["metadata"] == {"text": SENTENCES["bread"]}

    assert set(probe.ok("deleteByIds", {"ids": ["bread"]})) == {"mutationId"}
    assert probe.ok("getByIds", {"ids": ["bread"]}) == []
    described = probe.ok("describe")
    assert described["dimensions"] == 384 and described["vectorCount"] == 2


def test_insert_refuses_an_existing_id_and_the_binding_limit(probe):
    vector = [0.01] * 383 + [1.0]
    assert "mutationId" in probe.ok("insert", {"vectors": [{"id": "ins-1", "values": vector}]})
    too_many = [{"id": f"v{i}", "values": vector} for i in range(1001)]
    error = probe.error("upsert", {"vectors": too_many})
    assert error["message"].startswith("VECTOR_UPSERT_ERROR (code = 40007)") and "1000" in error["message"]


def test_text_generation_plain_and_streamed(probe):
    answer = probe.ok("run", {"model": LLM, "inputs": {"prompt": "Name a colour.", "max_tokens": 8}})
    assert isinstance(answer["response"], str) and answer["response"]
    assert answer["usage"]["completion_tokens"] >= 1

    with httpx.stream("POST", f"{probe.url}/stream", json={"model": LLM, "inputs": {
            "messages": [{"role": "user", "content": "Count to three."}], "max_tokens": 6}}, timeout=120) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]" and len(events) >= 3
    assert '"response"' in events[0]


def test_batch_queue_request(probe):
    options = {"queueRequest": True}
    queued = probe.ok("run", {"model": EMBEDDINGS, "inputs": {"requests": [{"text": "a"}, {"text": "b"}]},
                              "options": options})
    assert queued["status"] == "queued" and queued["request_id"]
    deadline = time.monotonic() + 60
    while True:
        polled = probe.ok("run", {"model": EMBEDDINGS, "inputs": {"request_id": queued["request_id"]}, "options": options})
        if "responses" in polled or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(polled["responses"]) == 2


def test_models_search(probe):
    models = probe.ok("models", {"task": "Text Embeddings"})
    names = {m["name"] for m in models}
    assert EMBEDDINGS in names and all(m["task"]["name"] == "Text Embeddings" for m in models)


def test_run_through_a_gateway_logs_and_the_gateway_helpers(probe, server, bound_account):
    gateway = "gw-" + uuid.uuid4().hex[:8]
    with httpx.Client(base_url=f"{server.url}/client/v4/accounts/{bound_account}/ai-gateway/gateways",
                      headers={"authorization": "Bearer dev-token"}, timeout=30) as admin:
        created = admin.post("", json={"id": gateway, "collect_logs": True, "cache_ttl": None,
                                       "cache_invalidate_on_update": False, "rate_limiting_interval": None,
                                       "rate_limiting_limit": None})
        assert created.status_code == 200, created.text

        run = probe.ok("gatewayRun", {"model": EMBEDDINGS, "inputs": {"text": ["through the gateway"]},
                                      "options": {"gateway": {"id": gateway, "metadata": {"user": "ada"}}}})
        assert run["result"]["shape"] == [1, 384] and run["logId"]

        log = probe.ok("getLog", {"id": gateway, "logId": run["logId"]})
        assert log["id"] == run["logId"] and log["provider"] == "workers-ai" and log["model"] == EMBEDDINGS
        assert log["success"] is True and log["status_code"] == 200

        assert probe.ok("patchLog", {"id": gateway, "logId": run["logId"], "data": {"feedback": 1, "score": 80}}) is None
        stored = admin.get(f"/{gateway}/logs/{run['logId']}").json()["result"]
        assert stored["feedback"] == 1 and stored["score"] == 80

        assert probe.ok("getUrl", {"id": gateway, "provider": "openai"}) == f"{server.url}/v1/{bound_account}/{gateway}/openai"
        assert probe.ok("getUrl", {"id": gateway}) == f"{server.url}/v1/{bound_account}/{gateway}"

        missing = probe.error("getLog", {"id": gateway, "logId": "01J0000000000000000000NONE"})
        assert missing["name"] == "AiGatewayLogNotFound"

        universal = probe.ok("universal", {"id": gateway, "request": {
            "provider": "workers-ai", "endpoint": EMBEDDINGS, "headers": {"authorization": "Bearer dev-token"},
            "query": {"text": ["universal"]}}})
        assert universal["status"] == 200 and universal["body"]["result"]["shape"] == [1, 384]
        logs = admin.get(f"/{gateway}/logs").json()["result"]
        assert len(logs) == 2


def test_errors_are_the_bindings_own(probe):
    no_model = probe.error("run", {"model": "@cf/nobody/no-such-model", "inputs": {"prompt": "hi"}})
    assert no_model["name"] == "AiError" and no_model["message"].startswith("5007: ")

    bad_input = probe.error("run", {"model": EMBEDDINGS, "inputs": {"text": 42}})
    assert bad_input["message"].startswith("5006: ")

    unknown_option = probe.error("run", {"model": EMBEDDINGS, "inputs": {"text": "x"}, "options": {"colour": "red"}})
    assert unknown_option["message"].startswith("5006: ") and "colour" in unknown_option["message"]

    no_gateway = probe.error("run", {"model": EMBEDDINGS, "inputs": {"text": "x"},
                                     "options": {"gateway": {"id": "never-made-" + uuid.uuid4().hex[:6]}}})
    assert no_gateway["name"] == "AiGatewayError" and no_gateway["message"].startswith("2001: Gateway")
    assert "undefined" not in no_gateway["message"]

    wrong_size = probe.error("query", {"vector": [0.5, 0.5], "options": {"topK": 1}})
    assert wrong_size["message"].startswith("VECTOR_QUERY_ERROR (code = 40008)")

    no_index = probe.error("missingDescribe")
    assert no_index["message"].startswith("INDEX_GET_ERROR (code = 3000)") and "no-such-index" in no_index["message"]

    js_rpc = probe.error("aiSearch")  # JS-RPC bindings are not served: an error, never a hang
    assert js_rpc["message"]


def test_sessions_stay_out_of_the_log(probe, server):
    probe.ok("describe")  # miniflare also opens (and kumo refuses) a JS-RPC WebSocket for each binding call
    assert "token=eyJ" not in server.logged_text()
