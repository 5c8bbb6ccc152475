"""The hostile inputs that crashed kumo once, one by one (the fuzz suite finds their kind; these pin each case):
every one a 4xx in its product's error shape, over real HTTP against the fuzz suite's `kumo serve`."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.fuzz.catalog import ACCOUNT, GATEWAY, INDEX, INSTANCE

BASE = f"/client/v4/accounts/{ACCOUNT}"
DEEP_BODY = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 1000 + b"1" + b"}" * 1000
HUGE_INT = b"1" + b"0" * 5000
CHAT = f"{BASE}/ai/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def client(fuzz_server):
    server, _ = fuzz_server
    with httpx.Client(base_url=server.url, timeout=60, headers={"authorization": "Bearer dev-token"}) as c:
        yield c


def envelope(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text[:500]
    body = response.json()
    assert body["success"] is False and isinstance(body["errors"][0]["code"], int), body
    return body["errors"][0]["message"]


def openai_error(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text[:500]
    error = response.json()["error"]
    assert isinstance(error["type"], str), error
    return error["message"]


def gateway_error(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text[:500]
    body = response.json()
    assert body["success"] is False and body["name"] == "AiGatewayError", body
    return body["error"][0]["message"]


@pytest.mark.parametrize("path", [f"{BASE}/vectorize/v2/indexes", f"{BASE}/ai-search/instances",
                                  f"{BASE}/ai-gateway/gateways", f"{BASE}/ai/run/@cf/baai/bge-small-en-v1.5"])
@pytest.mark.parametrize("body, needle", [(DEEP_BODY, "nested deeper"), (HUGE_INT, "beyond the range"),
                                          (b'{"x": 1e400}', "beyond the range"), (b'{"id": "\\ud83d"}', "surrogate")])
def test_json_limits_in_every_product(client, path, body, needle):
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert needle in envelope(response)


@pytest.mark.parametrize("body", [DEEP_BODY, HUGE_INT, b'{"model": "\\ud83d", "messages": []}'])
def test_json_limits_on_the_openai_endpoints(client, body):
    openai_error(client.post(CHAT, content=body, headers={"content-type": "application/json"}))


@pytest.mark.parametrize("body", [DEEP_BODY, b'[{"provider": "openai", "endpoint": "x", "query": {"a": 1e400}}]'])
def test_json_limits_on_the_gateway(client, body):
    gateway_error(client.post(f"/v1/{ACCOUNT}/{GATEWAY}", content=body))


@pytest.mark.parametrize("name, value", [
    ("cf-aig-metadata", DEEP_OBJECT), ("cf-aig-metadata", b'{"user": "\\ud83d"}'),
    ("cf-aig-metadata", b'{"n": 1e400}'), ("cf-aig-cache-ttl", b"inf"), ("cf-aig-cache-ttl", b"1e400"),
    ("cf-aig-request-timeout", b"9" * 5000), ("cf-aig-max-attempts", b"-1"), ("cf-aig-retry-delay", b"nan"),
    ("cf-aig-custom-cost", b'{"total_cost": 1e400}'), ("cf-aig-first-token-timeout", b"1e400"),
    ("cf-aig-stream-idle-timeout", "²".encode()),
])
def test_odd_gateway_headers(client, name, value):
    response = client.post(f"/v1/{ACCOUNT}/{GATEWAY}/openai/chat/completions",
                           json={"model": "gpt-4o-mini", "messages": MESSAGES},
                           headers={name: value, "authorization": "Bearer sk-x"})
    assert name in gateway_error(response)


def test_wrong_types_vectorize_preset(client):
    envelope(client.post(f"{BASE}/vectorize/v2/indexes", json={"name": "preset-list", "config": {"preset": []}}))
    envelope(client.post(f"{BASE}/vectorize/v2/indexes", json={"name": "preset-obj", "config": {"preset": {}}}))


@pytest.mark.parametrize("step", [{"provider": [], "endpoint": "chat/completions"},
                                  {"provider": {"a": 1}, "endpoint": "chat/completions"},
                                  {"provider": "openai", "endpoint": [], "query": {}},
                                  {"provider": "openai", "endpoint": "x", "config": {"requestTimeout": [1]}},
                                  {"provider": "openai", "endpoint": "x", "config": {"backoff": []}}])
def test_wrong_types_universal_step(client, step):
    gateway_error(client.post(f"/v1/{ACCOUNT}/{GATEWAY}", json=[step]))


@pytest.mark.parametrize("extra", [{"tools": "x"}, {"tools": {"a": 1}}, {"tools": [1]}, {"stream_options": []},
                                   {"stream": True, "stream_options": "x"}, {"messages": "hi"},
                                   {"messages": [{"role": "assistant", "tool_calls": {"a": 1}}]},
                                   {"messages": [{"role": "assistant", "tool_calls": [{"function": []}]}]},
                                   {"max_tokens": 10**40}, {"temperature": "hot"}])
def test_wrong_types_openai_chat(client, extra):
    body = {"model": "@cf/meta/llama-3.1-8b-instruct", "messages": MESSAGES, "max_tokens": 1, **extra}
    openai_error(client.post(CHAT, json=body))


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-latest"])
@pytest.mark.parametrize("extra", [{"tools": "x"}, {"stream_options": []},
                                   {"messages": [{"role": "assistant", "tool_calls": {"a": 1}}]},
                                   {"messages": [{"role": "assistant", "tool_calls": [{"function": []}]}]},
                                   {"messages": [{"role": "assistant", "tool_calls": [
                                       {"id": "c", "function": {"name": "f", "arguments": "[" * 5000}}]}]}])
def test_wrong_types_gateway_compat(client, model, extra):
    body = {"model": model, "messages": MESSAGES, **extra}
    response = client.post(f"/v1/{ACCOUNT}/{GATEWAY}/compat/chat/completions", json=body,
                           headers={"authorization": "Bearer sk-x"})
    assert response.status_code < 500, response.text[:500]
    if response.status_code >= 400 and "cf-aig-log-id" not in response.headers:
        gateway_error(response, response.status_code)


@pytest.mark.parametrize("path", [f"{BASE}/ai-gateway/gateways", f"{BASE}/ai-gateway/gateways/{GATEWAY}/logs",
                                  f"{BASE}/ai-search/instances", f"{BASE}/ai-search/instances/{INSTANCE}/items",
                                  f"{BASE}/ai-search/namespaces", f"{BASE}/ai/models/search",
                                  f"{BASE}/vectorize/v2/indexes/{INDEX}/list"])
@pytest.mark.parametrize("page", ["1" + "0" * 30, "9" * 5000, "-1", "1e400"])
def test_huge_page_numbers(client, path, page):
    response = client.get(path, params={"page": page, "count": page, "per_page": page})
    assert response.status_code in (200, 400), response.text[:500]
    if response.status_code == 400:
        envelope(response)


def test_download_of_a_name_beyond_latin1(client, fuzz_server):
    _, seeded = fuzz_server
    response = client.get(f"{BASE}/ai-search/instances/{INSTANCE}/items/{seeded['item_id']}/download")
    assert response.status_code == 200, response.text[:500]
    assert response.content == b"Kumo is a self-hosted AI platform."
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="') and "filename*=UTF-8''Gr%C3%BC%C3%9Fe%20%F0%9F%98%80.txt" \
        in disposition


def test_lone_surrogates_in_ids_and_queries(client):
    assert "surrogate" in envelope(client.post(f"{BASE}/vectorize/v2/indexes/{INDEX}/query",
                                               content=b'{"vector": [1,2,3,4], "filter": {"k": "\\ud83d"}}'))
    assert "surrogate" in envelope(client.post(f"{BASE}/vectorize/v2/indexes/{INDEX}/upsert",
                                               content=b'{"id": "\\ud83d", "values": [1,2,3,4]}'))
    assert "surrogate" in envelope(client.post(f"{BASE}/ai-search/instances/{INSTANCE}/search",
                                               content=b'{"messages": [{"role": "user", "content": "\\ud83d"}]}'))
    openai_error(client.post(f"{BASE}/ai/v1/embeddings",
                             content=b'{"model": "@cf/baai/bge-small-en-v1.5", "input": ["\\ud83d"]}'))
    response = client.get(f"{BASE}/ai-gateway/gateways/{GATEWAY}/logs",
                          params={"filters": '[{"key": "model", "operator": "eq", "value": ["\\ud83d"]}]'})
    assert "surrogate" in envelope(response)


def test_a_lone_surrogate_forwarded_by_the_gateway_is_logged(client):
    """The gateway forwards a body untouched (the provider judges it), so a lone surrogate reaches its log row:
    stored as U+FFFD, and the other rows of the batch are not lost."""
    logs = f"{BASE}/ai-gateway/gateways/{GATEWAY}/logs"
    before = client.get(logs).json()["result_info"]["total_count"]
    for body in (b'{"model": "gpt-\\ud83d", "messages": [{"role": "user", "content": "hi"}]}',
                 b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "\\ud83d"}]}'):
        response = client.post(f"/v1/{ACCOUNT}/{GATEWAY}/openai/chat/completions", content=body,
                               headers={"authorization": "Bearer sk-x", "content-type": "application/json"})
        assert "cf-aig-log-id" in response.headers, response.text[:300]
    deadline = time.monotonic() + 20
    while (total := client.get(logs).json()["result_info"]["total_count"]) < before + 2:
        assert time.monotonic() < deadline, f"{total - before} of 2 log rows written"
        time.sleep(0.2)
    models = [row["model"] for row in client.get(logs, params={"per_page": 50}).json()["result"]]
    assert any(m.startswith("gpt-\ufffd") for m in models), models


def test_renaming_a_dynamic_route_onto_another(client):
    routes = f"{BASE}/ai-gateway/gateways/{GATEWAY}/routes"
    first = client.get(routes).json()["result"][0]
    second = client.post(routes, json={"name": "fz-route-other", "elements": first["elements"]})
    assert second.status_code == 200, second.text
    assert "already exists" in envelope(client.patch(f"{routes}/{second.json()['result']['id']}",
                                                     json={"name": first["name"]}))


@pytest.mark.parametrize("path", [f"{BASE}/ai-gateway/gateways", f"{BASE}/ai-gateway/gateways/{GATEWAY}/provider_configs",
                                  f"{BASE}/ai/models/search", f"{BASE}/ai-search/instances"])
@pytest.mark.parametrize("page", ["1" + "0" * 40, "1" + "0" * 5000, "-1", "1e3"])
def test_huge_and_odd_page_numbers(client, path, page):
    assert "page" in envelope(client.get(path, params={"page": page}))


@pytest.mark.parametrize("count", ["²", "١٢", "9" * 5000])
def test_non_ascii_and_huge_digit_strings(client, count):
    # str.isdigit() is true for "²" and Arabic-Indic digits, which int() refuses: a 400, not a 500
    assert "count" in envelope(client.get(f"{BASE}/vectorize/v2/indexes/{INDEX}/list", params={"count": count}))
