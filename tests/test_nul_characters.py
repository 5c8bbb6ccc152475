"""A NUL character (`%00` in a path, `\\u0000` in JSON) is stored by SQLite but refused by PostgreSQL: on either
backend it must be a 4xx with Cloudflare's envelope or a success, never a 500, and nothing half-applied."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture
def client(backend_server):
    with httpx.Client(base_url=backend_server.url, headers={"authorization": "Bearer t"}, timeout=60) as c:
        yield c


def _not_a_server_error(r: httpx.Response) -> None:
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        body = r.json()
        assert body["success"] is False and body["errors"][0]["message"]


@pytest.mark.parametrize("path", ["/vectorize/v2/indexes", "/ai-gateway/gateways", "/ai-search/instances"])
def test_nul_in_the_account(client, path):
    _not_a_server_error(client.get(f"/client/v4/accounts/a%00b{path}"))


def test_nul_in_a_vector_id_applies_nothing(client, account):
    base = f"/client/v4/accounts/{account}/vectorize/v2/indexes"
    assert client.post(base, json={"name": "nul", "config": {"dimensions": 2, "metric": "cosine"}}).is_success
    r = client.post(base + "/nul/upsert", content='{"id": "ok", "values": [1, 0]}\n{"id": "a\\u0000b", "values": [0, 1]}\n')
    _not_a_server_error(r)
    if r.status_code >= 400:  # refused whole: the valid line did not land either
        assert client.post(base + "/nul/get_by_ids", json={"ids": ["ok"]}).json()["result"] == []
