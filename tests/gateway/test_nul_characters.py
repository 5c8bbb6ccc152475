"""A model name with a NUL character (PostgreSQL text cannot hold one): the call is proxied and logged, and the
other rows of its log batch are not lost."""

from __future__ import annotations

import time

import httpx

from tests.gateway.conftest import make_gateway


def test_nul_in_a_model_name_is_logged(gw_server, admin, acct):
    make_gateway(admin)
    url = f"{gw_server.url}/v1/{acct}/gw/openai/chat/completions"
    for model in ("gpt\u0000odd", "gpt-4o-mini"):
        r = httpx.post(url, json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
                       headers={"authorization": "Bearer sk-test"})
        assert r.status_code == 200
    deadline = time.monotonic() + 10
    while (total := admin.get("/gateways/gw/logs").json()["result_info"]["total_count"]) < 2:
        assert time.monotonic() < deadline, f"{total} of 2 log rows written"
        time.sleep(0.1)
