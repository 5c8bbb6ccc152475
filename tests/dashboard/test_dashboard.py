"""Gateway analytics as the dashboard draws them, on both backends: rollups written with the logs (every request
counted, logged or not), kept when logs are deleted, latency percentiles from the histogram."""

from __future__ import annotations

import re

import httpx

from tests.gateway.conftest import make_gateway


def _sign_in(client: httpx.Client, account: str) -> None:
    assert client.post("/dashboard/sign-in", data={"account": account}).status_code == 303  # dev mode: no tokens


def _stat(html: str, element_id: str) -> str:
    return re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html).group(1)


def test_analytics_count_every_request_and_outlive_deleted_logs(gw_server, admin, acct):
    make_gateway(admin, "dash", log_management=2, log_management_strategy="STOP_INSERTING")
    for i in range(6):
        r = httpx.post(f"{gw_server.url}/v1/{acct}/dash/openai/chat/completions",
                       json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}]},
                       headers={"authorization": "Bearer k", **({"x-fake": "400"} if i == 0 else {})})
        assert r.status_code == (400 if i == 0 else 200)
    httpx.post(f"{gw_server.url}/v1/{acct}/dash/anthropic/v1/messages",
               json={"model": "claude-3-5-haiku-latest", "max_tokens": 5, "messages": []}, headers={"x-api-key": "k"})
    with httpx.Client(base_url=gw_server.url, headers={"origin": gw_server.url}, timeout=60) as client:
        _sign_in(client, acct)
        html = client.get(f"/dashboard/{acct}/ai-gateway/dash", params={"window": "1h"}).text
        assert _stat(html, "total-requests") == "7" and _stat(html, "total-errors") == "1"  # 2 logs kept, 7 counted
        assert html.count("<svg") == 5 and "Latency p50 / p95" in html
        assert "gpt-4o-mini" in html and "claude-3-5-haiku-latest" in html and "anthropic" in html
        assert re.search(r"Latency p50 / p95</dt><dd>\d+ ms / \d+ ms", html)
        logs = admin.get("/gateways/dash/logs").json()
        assert logs["result_info"]["total_count"] == 2
        assert admin.delete("/gateways/dash/logs").status_code == 200
        for window in ("1h", "24h", "7d", "30d"):
            html = client.get(f"/dashboard/{acct}/ai-gateway/dash", params={"window": window}).text
            assert _stat(html, "total-requests") == "7", window
        other = client.get(f"/dashboard/{acct}-other/ai-gateway")
        assert other.status_code == 200 and "No gateways yet" in other.text  # accounts never see each other's


def test_names_from_requests_are_shown_as_text_never_markup(gw_server, admin, acct):
    make_gateway(admin, "xss")
    evil = '<img src=x onerror="alert(1)">'
    httpx.post(f"{gw_server.url}/v1/{acct}/xss/openai/chat/completions", headers={"authorization": "Bearer k"},
               json={"model": evil, "messages": [{"role": "user", "content": evil}]})
    with httpx.Client(base_url=gw_server.url, headers={"origin": gw_server.url}, timeout=60) as client:
        _sign_in(client, acct)
        for path in ("", "/logs"):
            html = client.get(f"/dashboard/{acct}/ai-gateway/xss{path}", params={"window": "1h"}).text
            assert "&lt;img src=x" in html and "<img src=x" not in html, path
        log_id = re.search(r"log=([0-9A-Z]{26})", client.get(f"/dashboard/{acct}/ai-gateway/xss/logs").text).group(1)
        detail = client.get(f"/dashboard/{acct}/ai-gateway/xss/logs", params={"log": log_id}).text
        assert "<img src=x" not in detail and "onerror" in detail
        tail = client.get(f"/dashboard/{acct}/ai-gateway/xss/logs-tail", params={"after": evil})
        assert tail.status_code == 400 and "<img" not in tail.text
