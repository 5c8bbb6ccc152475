"""The batch API (`?queueRequest=true`): submit, poll, results in order with external references; jobs
survive a crash of the server and are resumed."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import Server

EMBED = "@cf/baai/bge-small-en-v1.5"
LLM = "@cf/meta/llama-3.1-8b-instruct"


def _poll(client: httpx.Client, url: str, request_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = client.post(url, params={"queueRequest": "true"}, json={"request_id": request_id}).json()["result"]
        if "responses" in result:
            return result
        assert result["status"] in ("queued", "running")
        time.sleep(0.2)
    raise AssertionError("batch did not finish")


@pytest.fixture
def http(backend_server):
    """Batch jobs run on both backends: SQLite embedded, and the PostgreSQL queue."""
    with httpx.Client(base_url=backend_server.url, headers={"authorization": "Bearer t"}, timeout=60) as client:
        yield client


def test_batch_end_to_end(http, account):
    url = f"/client/v4/accounts/{account}/ai/run/{EMBED}"
    requests = [{"text": f"document {i}", "external_reference": f"doc-{i}"} for i in range(20)]
    requests.append({"text": ""})  # invalid: reported per request, the others still run
    queued = http.post(url, params={"queueRequest": "true"}, json={"requests": requests}).json()["result"]
    assert queued["status"] == "queued" and queued["model"] == EMBED
    done = _poll(http, url, queued["request_id"])
    responses = done["responses"]
    assert [r["id"] for r in responses] == list(range(21))
    assert all(r["success"] for r in responses[:20]) and responses[20]["success"] is False
    assert [r["external_reference"] for r in responses[:3]] == ["doc-0", "doc-1", "doc-2"]
    direct = http.post(url, json={"text": "document 5"}).json()["result"]["data"][0]
    assert responses[5]["result"]["data"][0] == direct
    assert done["usage"]["prompt_tokens"] > 0


def test_batch_errors(http, account):
    url = f"/client/v4/accounts/{account}/ai/run/{EMBED}"
    r = http.post(url, params={"queueRequest": "true"}, json={"requests": []})
    assert r.status_code == 400
    r = http.post(url, params={"queueRequest": "true"}, json={"request_id": "nope"})
    assert r.status_code == 404
    r = http.post(f"/client/v4/accounts/{account}/ai/run/@cf/x/y", params={"queueRequest": "true"},
                  json={"requests": [{"text": "x"}]})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 5007


def test_batch_resumes_after_kill_9(tmp_path):
    data = tmp_path / "data"
    srv = Server(data).start()
    url = "/client/v4/accounts/b/ai/run/" + LLM
    client = httpx.Client(base_url=srv.url, headers={"authorization": "Bearer t"}, timeout=60)
    requests = [{"prompt": f"Say the number {i}.", "max_tokens": 24, "seed": i + 1} for i in range(24)]
    queued = client.post(url, params={"queueRequest": "true"}, json={"requests": requests}).json()["result"]
    time.sleep(1.0)  # let it start
    srv.kill9()
    client.close()
    srv = Server(data).start()
    try:
        with httpx.Client(base_url=srv.url, headers={"authorization": "Bearer t"}, timeout=60) as client:
            done = _poll(client, url, queued["request_id"], timeout=240)
        assert len(done["responses"]) == 24 and all(r["success"] for r in done["responses"])
        assert all(r["result"]["response"] for r in done["responses"])
    finally:
        srv.stop()
