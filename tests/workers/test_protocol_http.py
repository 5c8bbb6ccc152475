"""The binding endpoint and the preview API over plain HTTP, without Node: sessions, miniflare's wrapping, and
hostile input (every answer a 4xx in the binding's own shape, never a 500)."""

from __future__ import annotations

import json
import random
import uuid

import httpx
import pytest

AUTH = {"authorization": "Bearer dev-token"}


def preview_token(url: str, account: str, bindings: list[dict], headers: dict | None = None) -> httpx.Response:
    metadata = json.dumps({"main_module": "index.js", "bindings": bindings})
    return httpx.post(f"{url}/client/v4/accounts/{account}/workers/scripts/probe/edge-preview",
                      files={"metadata": ("blob", metadata, "application/json"),
                             "index.js": ("index.js", "export default {}", "application/javascript+module")},
                      headers=headers or AUTH, timeout=30)


@pytest.fixture(scope="module")
def session(server):
    account = "wp-" + uuid.uuid4().hex[:10]
    created = httpx.post(f"{server.url}/client/v4/accounts/{account}/vectorize/v2/indexes", headers=AUTH,
                         json={"name": "idx", "config": {"dimensions": 3, "metric": "cosine"}})
    assert created.status_code in (200, 201)
    minted = preview_token(server.url, account, [{"name": "AI", "type": "ai"},
                                                 {"name": "VEC", "type": "vectorize", "index_name": "idx", "raw": True}])
    assert minted.status_code == 200, minted.text
    return account, minted.json()["result"]["preview_token"]


def wrapped(binding: str, url: str, headers: dict | None = None) -> dict:
    out = {"MF-URL": url, "MF-Binding": binding}
    for name, value in (headers or {}).items():
        out[f"MF-Header-{name}"] = value
    return out


def test_wranglers_preview_calls(server):
    base = f"{server.url}/client/v4/accounts/acct-preview/workers"
    first = httpx.get(f"{base}/subdomain/edge-preview", headers=AUTH).json()["result"]
    assert first["token"] and first["exchange_url"] is None
    assert httpx.get(f"{base}/subdomain", headers=AUTH).json()["result"] == {"subdomain": "kumo"}
    minted = preview_token(server.url, "acct-preview", [{"name": "AI", "type": "ai"}]).json()["result"]
    assert minted["preview_token"] and minted["tail_url"] is None

    refused = preview_token(server.url, "acct-preview", [{"name": "BUCKET", "type": "r2_bucket", "bucket_name": "b"}])
    assert refused.status_code == 400 and "BUCKET" in refused.json()["errors"][0]["message"]
    no_index = preview_token(server.url, "acct-preview", [{"name": "V", "type": "vectorize"}])
    assert no_index.status_code == 400 and "index_name" in no_index.json()["errors"][0]["message"]
    not_multipart = httpx.post(f"{base}/scripts/probe/edge-preview", headers=AUTH, json={"bindings": []})
    assert not_multipart.status_code == 400
    assert httpx.get(f"{base}/subdomain").status_code == 401  # the preview API is the account's, like any other


def test_wrangler_dev_traffic_with_the_preview_token_header(server, session):
    """wrangler's remote proxy sends binding traffic to https://<worker>.kumo.workers.dev/ with the token."""
    account, token = session
    headers = {**wrapped("VEC", "http://vector-search/info"), "cf-workers-preview-token": token,
               "host": "probe.kumo.workers.dev"}
    info = httpx.get(f"{server.url}/", headers=headers)
    assert info.status_code == 200 and info.headers["content-type"] == "application/json"
    assert info.json()["dimensions"] == 3


def test_direct_traffic_writes_ndjson_and_reads_bare_results(server, session):
    account, token = session
    endpoint = f"{server.url}/workers/bindings?token={token}"
    ndjson = '{"id":"a","values":[1,0,0]}\n{"id":"b","values":[0,1,0],"metadata":{"k":1}}'
    written = httpx.post(endpoint, content=ndjson, headers=wrapped("VEC", "http://vector-search/upsert", {
        "content-type": "application/x-ndjson", "cf-vector-search-dim-width": "3", "cf-vector-search-dim-height": "2"}))
    assert written.status_code == 200 and set(written.json()) == {"mutationId"}
    got = httpx.post(endpoint, json={"ids": ["b"]}, headers=wrapped("VEC", "http://vector-search/getByIds"))
    assert got.json() == [{"id": "b", "values": [0.0, 1.0, 0.0], "metadata": {"k": 1}}]

    embedded = httpx.post(endpoint, json={"inputs": {"text": ["hi"]}, "options": {}}, headers=wrapped(
        "AI", "https://workers-binding.ai/run?version=3", {"content-type": "application/json",
                                                          "cf-consn-model-id": "@cf/baai/bge-small-en-v1.5"}))
    assert embedded.status_code == 200 and embedded.headers["content-type"] == "application/json"
    assert embedded.json()["shape"] == [1, 384] and embedded.headers["cf-ai-req-id"]


def _ai(model: str = "@cf/baai/bge-small-en-v1.5", path: str = "/run?version=3") -> dict:
    return wrapped("AI", f"https://workers-binding.ai{path}", {"content-type": "application/json",
                                                               "cf-consn-model-id": model})


HOSTILE = [
    # (method, headers, body, status, what the answer must say)
    ("POST", {}, b"", 400, "MF-URL"),
    ("POST", wrapped("AI", "not a url"), b"", 400, "MF-URL"),
    ("POST", wrapped("AI", "http://evil.example/steal"), b"", 400, "AI or Vectorize"),
    ("POST", _ai(), b"{not json", 400, "inputs"),
    ("POST", _ai(), b'{"inputs": {"text": "x"}, "options": []}', 400, "options"),
    ("POST", _ai(path="/ai-gateway/run?version=3"),
     b'{"inputs": {"text": "x"}, "options": {"gateway": {"id": "g", "cacheTtl": 60, "colour": 1}}}', 400, "colour"),
    ("POST", _ai(path="/ai-gateway/run?version=3"), b'{"inputs": {"text": "x"}, "options": {"gateway": {}}}', 400, "id"),
    ("POST", _ai(), b'{"inputs": {"text": "x"}, "options": {"gateway": {"id": "g"}}}', 400, "/ai-gateway/run"),
    ("POST", _ai(model="../../../etc/passwd"), b'{"inputs": {}}', 400, "model name"),
    ("POST", _ai(model=""), b'{"inputs": {}}', 400, "model name"),
    ("POST", _ai(path="/run?version=2"), b'{"inputs": {}}', 400, "version 3"),
    ("POST", _ai(path="/run?version=3&websocket=1"), b"", 400, "websocket"),
    ("POST", _ai(path="/autorag/rags/x/search"), b"{}", 400, "autorag"),
    ("POST", _ai(path="/something/else"), b"", 404, "does not serve"),
    ("GET", wrapped("AI", "https://workers-binding.ai/ai-gateway/gateways/g/url/not-a-provider"), b"", 400, "provider"),
    ("PATCH", wrapped("AI", "https://workers-binding.ai/ai-gateway/gateways/nope/logs/1"), b"{", 400, "JSON"),
    ("POST", wrapped("VEC", "http://vector-search/explode"), b"", 404, "does not serve"),
    ("POST", wrapped("VEC", "http://vector-search/query"), b"null", 400, ""),
    ("POST", wrapped("VEC", "http://vector-search/query"), b'{"vector": "abc"}', 400, ""),
    ("POST", wrapped("VEC", "http://vector-search/upsert", {"content-type": "application/x-ndjson"}), b"{{{\n\x00",
     400, ""),
    ("POST", wrapped("VEC", "http://vector-search/info"), b"", 405, "GET"),
    ("GET", wrapped("NOT-BOUND", "http://vector-search/info"), b"", 400, "no Vectorize index"),
]


@pytest.mark.parametrize("method,headers,body,status,says", HOSTILE)
def test_hostile_input_gets_the_bindings_4xx(server, session, method, headers, body, status, says):
    _, token = session
    response = httpx.request(method, f"{server.url}/workers/bindings?token={token}", headers=headers, content=body)
    assert response.status_code == status, response.text[:300]
    answer = response.json()
    message = answer.get("error") or answer.get("description") or answer["errors"][0]["message"]
    assert says in message


def test_sessions_are_signed(server, session):
    _, token = session
    headers = wrapped("VEC", "http://vector-search/info")
    for forged in (None, "", "abc", token[:-2] + "xx", token.split(".")[0] + ".", "x" * 9000):
        query = "" if forged is None else f"?token={forged}"
        response = httpx.get(f"{server.url}/workers/bindings{query}", headers=headers)
        assert response.status_code == 401 and "session" in response.json()["error"]


def test_random_wrappings_never_500(server, session):
    _, token = session
    rng = random.Random(16)
    hosts = ["https://workers-binding.ai", "http://vector-search", "http://x"]
    paths = ["/run?version=3", "/ai-gateway/run?version=3", "/info", "/query", "/insert", "/getByIds",
             "/ai-gateway/gateways/g/logs/1", "/ai-gateway/universal/run/g", "/ai-api/models/search?per_page=x"]
    bodies = [b"", b"{}", b"[]", b"null", b'{"inputs": null}', b'{"inputs": {"text": []}, "options": {"gateway": 1}}',
              b'{"ids": [1, {}]}', bytes(rng.randrange(256) for _ in range(64))]
    for _ in range(40):
        headers = wrapped(rng.choice(["AI", "VEC", "X"]), rng.choice(hosts) + rng.choice(paths), {
            "content-type": rng.choice(["application/json", "application/x-ndjson", "text/plain", ""]),
            "cf-consn-model-id": rng.choice(["@cf/baai/bge-small-en-v1.5", "@x", "", "@cf/a?b"])})
        response = httpx.request(rng.choice(["GET", "POST", "PATCH", "DELETE"]),
                                 f"{server.url}/workers/bindings?token={token}", headers=headers,
                                 content=rng.choice(bodies), timeout=60)
        assert response.status_code < 500, (headers, response.text[:300])


def test_with_api_tokens_a_session_needs_an_allowed_token(own_server):
    server = own_server
    bindings = [{"name": "AI", "type": "ai"}]
    assert preview_token(server.url, "acct-a", bindings, {"authorization": "Bearer beta"}).status_code == 403
    assert preview_token(server.url, "acct-a", bindings, {"authorization": "Bearer nope"}).status_code == 401
    token = preview_token(server.url, "acct-a", bindings, {"authorization": "Bearer alpha"}).json()["result"][
        "preview_token"]
    models = httpx.get(f"{server.url}/workers/bindings?token={token}", headers=wrapped(
        "AI", "https://workers-binding.ai/ai-api/models/search?per_page=2"))
    assert models.status_code == 200 and len(models.json()["result"]) == 2
    assert "token=eyJ" not in server.logged_text()  # sessions stay out of the log
    # another kumo (other API tokens) does not honour this kumo's sessions
    from kumo.config import TokenGrant
    from kumo.workers.sessions import SessionSigner

    assert SessionSigner([TokenGrant(token="alpha", accounts=["acct-a"]), TokenGrant(token="beta", accounts=["acct-b"])]
                         ).open(token).account == "acct-a"
    assert SessionSigner([TokenGrant(token="gamma")]).open(token) is None
    assert SessionSigner([]).open(token) is None


def test_a_readable_stream_input_is_the_body(server, session):
    """`env.AI.run(model, {audio: {body: stream, contentType}})`: the binding sends the bytes as the body and the
    other inputs as `userInputs` in the query."""
    from tests.ai.conftest import asset

    _, token = session
    speech = asset("beckett.wav")
    headers = wrapped("AI", "https://workers-binding.ai/run?version=3&userInputs=%7B%7D", {
        "content-type": "audio/wav", "cf-consn-model-id": "@cf/openai/whisper"})
    heard = httpx.post(f"{server.url}/workers/bindings?token={token}", headers=headers, content=speech, timeout=120)
    assert heard.status_code == 200, heard.text[:300]
    assert "fail" in heard.json()["text"].lower()

    headers = wrapped("AI", "https://workers-binding.ai/run?version=3&userInputs=%7B%22language%22%3A%22en%22%7D",
                      {"content-type": "audio/wav", "cf-consn-model-id": "@cf/openai/whisper"})
    refused = httpx.post(f"{server.url}/workers/bindings?token={token}", headers=headers, content=speech)
    assert refused.status_code == 400 and "ReadableStream" in refused.json()["description"]
