"""`GET /metrics` in Prometheus format: HTTP, gateway, Workers AI and Vectorize figures."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.gateway.conftest import make_gateway


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    text = httpx.get(url + "/metrics").text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples, name, **labels):
    return sum(v for (n, l), v in samples.items() if n == name and all(dict(l).get(k) == w for k, w in labels.items()))


def test_metrics(gw_server, admin, acct):
    make_gateway(admin, "m", cache_ttl=300, rate_limiting_limit=3, rate_limiting_interval=3600)
    before = scrape(gw_server.url)
    for _ in range(4):
        httpx.post(f"{gw_server.url}/v1/{acct}/m/openai/chat/completions", headers={"authorization": "Bearer k"},
                   json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "metrics"}]})
    httpx.post(f"{gw_server.url}/client/v4/accounts/{acct}/ai/run/@cf/baai/bge-small-en-v1.5", json={"text": "x"},
               headers={"authorization": "Bearer k"})
    after = scrape(gw_server.url)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("kumo_http_requests_total", product="gateway", status="200") == 3
    assert delta("kumo_http_requests_total", product="gateway", status="429") == 1
    assert delta("kumo_gateway_rate_limited_total") == 1
    assert delta("kumo_gateway_cache_total", result="miss") == 1 and delta("kumo_gateway_cache_total", result="hit") == 2
    assert delta("kumo_gateway_tokens_total", provider="openai", direction="out") == 18
    assert delta("kumo_gateway_cost_usd_total", provider="openai") > 0
    assert delta("kumo_ai_inference_seconds_count", model="@kumo/all-minilm-l6-v2-int8") == 1
    assert delta("kumo_ai_batch_items_count", model="@kumo/all-minilm-l6-v2-int8") == 1  # one pass of one text
    assert delta("kumo_ai_batch_items_sum", model="@kumo/all-minilm-l6-v2-int8") == 1
    assert value(after, "kumo_http_request_duration_seconds_count", route="/v1/{account_id}/{gateway_id}/{provider}/{path:path}") >= 4
    assert ("kumo_ai_batch_queue_depth", ()) in after and ("kumo_vectorize_vectors", ()) in after


def test_every_product_has_its_own_label():
    from kumo.metrics import product_of

    account = "/client/v4/accounts/a1"
    assert {path: product_of(path) for path in (
        "/v1/a1/g/openai/chat/completions", "/r2/bucket/key", f"{account}/r2/buckets/b", f"{account}/vectorize/v2/indexes",
        f"{account}/ai/run/@cf/x", f"{account}/ai/v1/chat/completions", f"{account}/ai/custom-models/m",
        f"{account}/ai-search/instances", f"{account}/ai-gateway/gateways", f"{account}/workers/scripts",
        "/dashboard/a1", "/healthz", f"{account}/nothing", "/client/v4/accounts/a1")} == {
        "/v1/a1/g/openai/chat/completions": "gateway", "/r2/bucket/key": "r2", f"{account}/r2/buckets/b": "r2",
        f"{account}/vectorize/v2/indexes": "vectorize", f"{account}/ai/run/@cf/x": "workers-ai",
        f"{account}/ai/v1/chat/completions": "workers-ai", f"{account}/ai/custom-models/m": "custom-models",
        f"{account}/ai-search/instances": "ai-search", f"{account}/ai-gateway/gateways": "gateway-admin",
        f"{account}/workers/scripts": "workers", "/dashboard/a1": "dashboard", "/healthz": "other",
        f"{account}/nothing": "other", "/client/v4/accounts/a1": "other"}
