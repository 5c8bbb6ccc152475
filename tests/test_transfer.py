"""`kumo migrate --from DATA_DIR --to postgresql://...`: a user outgrowing one machine moves everything an
embedded kumo holds into PostgreSQL, and a node on PostgreSQL serves it unchanged."""

from __future__ import annotations

import subprocess
import time

import httpx

from tests.ai.test_batch import _poll
from tests.conftest import KUMO, PostgresDatabase, Server

EMBED = "/client/v4/accounts/mover/ai/run/@cf/baai/bge-small-en-v1.5"
INDEX = "/client/v4/accounts/mover/vectorize/v2/indexes/docs"
GATEWAYS = "/client/v4/accounts/mover/ai-gateway/gateways"
SEARCH = "/client/v4/accounts/mover/ai-search/namespaces/default/instances"


def _client(srv: Server) -> httpx.Client:
    return httpx.Client(base_url=srv.url, headers={"authorization": "Bearer t"}, timeout=60)


def test_data_dir_moves_into_postgres(tmp_path, fake):
    data = tmp_path / "data"
    embedded = Server(data, env={"KUMO_UPSTREAM_OPENAI": fake.url}).start()
    with _client(embedded) as client:
        assert client.post(GATEWAYS, json={"id": "gw", "collect_logs": True, "cache_ttl": None,
                                              "cache_invalidate_on_update": False, "rate_limiting_interval": None,
                                              "rate_limiting_limit": None}).status_code == 200
        for i in range(3):
            r = client.post("/v1/mover/gw/openai/chat/completions", headers={"authorization": "Bearer sk-x"},
                            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"hi {i}"}]})
            assert r.status_code == 200
        job = client.post(EMBED, params={"queueRequest": "true"},
                          json={"requests": [{"text": "moved"}]}).json()["result"]["request_id"]
        before = _poll(client, EMBED, job)
        queries = _vectorize_state(client)
        searches = _aisearch_state(client)
        deadline = time.monotonic() + 10
        while client.get(GATEWAYS + "/gw/logs").json()["result_info"]["total_count"] < 3:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    embedded.stop()

    with PostgresDatabase() as db:
        moved = subprocess.run([*KUMO, "migrate", "--from", str(data), "--to", db.url], capture_output=True, text=True)
        assert moved.returncode == 0, moved.stderr
        again = subprocess.run([*KUMO, "migrate", "--from", str(data), "--to", db.url], capture_output=True, text=True)
        assert again.returncode == 1 and "already holds kumo state" in again.stderr

        node = Server(tmp_path / "node", env={"KUMO_DATABASE_URL": db.url, "KUMO_UPSTREAM_OPENAI": fake.url}).start()
        try:
            with _client(node) as client:
                assert client.get(GATEWAYS + "/gw").json()["result"]["collect_logs"] is True
                logs = client.get(GATEWAYS + "/gw/logs").json()
                assert logs["result_info"]["total_count"] == 3
                assert all(item["provider"] == "openai" for item in logs["result"])
                assert _poll(client, EMBED, job) == before
                assert _vectorize_state(client, write=False) == queries
                assert _aisearch_state(client, write=False) == searches
                _aisearch_after_move(client)
        finally:
            node.stop()


def _vectorize_state(client: httpx.Client, write: bool = True) -> list:
    """An index whose first vector predates its metadata index (so a filter does not see it): the same
    answers before and after the move."""
    if write:
        assert client.post("/client/v4/accounts/mover/vectorize/v2/indexes",
                           json={"name": "docs", "config": {"dimensions": 4, "metric": "cosine"}}).is_success
        ndjson = '{"id": "old", "values": [1, 0, 0, 0], "metadata": {"lang": "en"}}\n'
        assert client.post(INDEX + "/upsert", content=ndjson).is_success
        assert client.post(INDEX + "/metadata_index/create",
                           json={"propertyName": "lang", "indexType": "string"}).is_success
        ndjson = ('{"id": "new", "values": [0.9, 0.1, 0, 0], "metadata": {"lang": "en"}, "namespace": "n1"}\n'
                  '{"id": "fr", "values": [0, 1, 0, 0], "metadata": {"lang": "fr"}}\n')
        assert client.post(INDEX + "/upsert", content=ndjson).is_success
    vector = [1, 0.05, 0, 0]
    answers = [client.post(INDEX + "/query", json={"vector": vector, "topK": 5, "returnValues": True,
                                                   "returnMetadata": "all", **extra}).json()["result"]
               for extra in ({}, {"filter": {"lang": "en"}}, {"namespace": "n1"})]
    assert [m["id"] for m in answers[1]["matches"]] == ["new"]  # "old" was written before the metadata index
    info = client.get(INDEX + "/info").json()["result"]
    return [answers, info]


def _aisearch_state(client: httpx.Client, write: bool = True) -> list:
    """An instance with one item (chunks in the managed Vectorize index and the keyword index): vector,
    keyword and hybrid search answer the same before and after the move, and so does the item."""
    if write:
        assert client.post(SEARCH, json={"id": "kb"}).is_success
        upload = client.post(SEARCH + "/kb/items", data={"wait_for_completion": "true"},
                             files={"file": ("otters.md", b"Sea otters hold hands while they sleep.")})
        assert upload.json()["result"]["status"] == "completed", upload.text
        assert client.post(SEARCH, json={"id": "code", "index_method": {"vector": False, "keyword": True},
                                         "indexing_options": {"keyword_tokenizer": "trigram"}}).is_success
        upload = client.post(SEARCH + "/code/items", data={"wait_for_completion": "true"},
                             files={"file": ("api.md", b"Call getConfiguration() first.")})
        assert upload.json()["result"]["status"] == "completed", upload.text
    substring = client.post(SEARCH + "/code/search", json={"query": "configura", "ai_search_options": {
        "retrieval": {"retrieval_type": "keyword"}}}).json()["result"]
    assert [c["item"]["key"] for c in substring["chunks"]] == ["api.md"], substring  # trigram index moved too
    answers = [client.post(SEARCH + "/kb/search", json={"query": "otters sleep holding hands", "ai_search_options": {
        "retrieval": {"retrieval_type": kind}}}).json()["result"] for kind in ("vector", "keyword", "hybrid")]
    assert all(a["chunks"][0]["item"]["key"] == "otters.md" for a in answers), answers
    items = client.get(SEARCH + "/kb/items").json()["result"]
    return [answers, items]


def _aisearch_after_move(client: httpx.Client) -> None:
    """New rows after the move (pks from sequences moved past the copied ones) are found by both searches."""
    upload = client.post(SEARCH + "/kb/items", data={"wait_for_completion": "true"},
                         files={"file": ("owls.md", b"Owls turn their heads to look behind them.")})
    assert upload.json()["result"]["status"] == "completed", upload.text
    for kind in ("vector", "keyword"):
        found = client.post(SEARCH + "/kb/search", json={"query": "owls turn heads", "ai_search_options": {
            "retrieval": {"retrieval_type": kind}}}).json()["result"]
        assert found["chunks"][0]["item"]["key"] == "owls.md", found
