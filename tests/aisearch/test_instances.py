"""Instances and namespaces through the `cloudflare` SDK against a running `kumo serve`."""

from __future__ import annotations

import cloudflare
import httpx
import pytest

from tests.aisearch.helpers import search, upload


def test_create_read_update_list_delete(cf, account):
    ns = cf.aisearch.namespaces.instances
    created = ns.create("default", account_id=account, id="docs", chunk_size=128, chunk_overlap=20,
                        fusion_method="max", max_num_results=5, score_threshold=0.3,
                        custom_metadata=[{"field_name": "category", "data_type": "text"}])
    assert created.id == "docs" and created.namespace == "default"
    assert created.embedding_model == "@cf/baai/bge-small-en-v1.5"
    assert created.aisearch_model == "@cf/meta/llama-3.3-70b-instruct-fp8-fast"
    assert created.index_method.vector and created.index_method.keyword and created.hybrid_search_enabled
    assert (created.chunk_size, created.chunk_overlap, created.fusion_method) == (128, 20, "max")
    assert created.reranking is False and created.rewrite_query is False

    read = ns.read("docs", account_id=account, name="default")
    assert read.id == "docs" and read.max_num_results == 5 and read.custom_metadata[0].field_name == "category"
    legacy = cf.aisearch.instances.read("docs", account_id=account)  # the older path is the default namespace
    assert legacy.id == "docs" and legacy.score_threshold == 0.3

    updated = ns.update("docs", account_id=account, name="default", max_num_results=7, rewrite_query=True)
    assert updated.max_num_results == 7 and updated.rewrite_query is True and updated.chunk_size == 128

    ns.create("default", account_id=account, id="second")
    listed = ns.list("default", account_id=account)
    assert [i.id for i in listed] == ["docs", "second"]
    assert [i.id for i in ns.list("default", account_id=account, search="sec")] == ["second"]

    # the instance's Vectorize index is an ordinary index of the account, managed by kumo
    index = cf.vectorize.indexes.get("ai-search-docs", account_id=account)
    assert index.config.dimensions == 384

    deleted = ns.delete("docs", account_id=account, name="default")
    assert deleted.id == "docs"
    with pytest.raises(cloudflare.NotFoundError):
        ns.read("docs", account_id=account, name="default")
    with pytest.raises(cloudflare.NotFoundError):
        cf.vectorize.indexes.get("ai-search-docs", account_id=account)


@pytest.mark.parametrize("body, words", [
    ({"id": "Bad Id"}, "`id`"),
    ({"id": "ok", "chunk_size": 10}, "chunk_size"),
    ({"id": "ok", "chunk_overlap": 50}, "chunk_overlap"),
    ({"id": "ok", "fusion_method": "sum"}, "fusion_method"),
    ({"id": "ok", "embedding_model": "@cf/meta/llama-3.1-8b-instruct"}, "not a text-embeddings model"),
    ({"id": "ok", "ai_search_model": "@cf/no/such-model"}, "not a model kumo knows"),
    ({"id": "ok", "embedding_model": "@cf/baai/bge-base-en-v1.5"}, "kumo models pull @cf/baai/bge-base-en-v1.5"),
    ({"id": "ok", "reranking_model": "@cf/huggingface/distilbert-sst-2-int8"}, "not a reranker"),
    ({"id": "ok", "index_method": {"vector": False, "keyword": False}}, "index_method"),
    ({"id": "ok", "source": "https://example.com", "type": "web-crawler"}, "web-crawler"),
    ({"id": "ok", "source": "/no/such/folder"}, "does not exist"),
    ({"id": "ok", "not_a_setting": 1}, "unknown instance setting"),
    ({"id": "ok", "custom_metadata": [{"field_name": "folder", "data_type": "text"}]}, "reserved"),
])
def test_bad_settings_are_400_with_a_reason(http, account, body, words):
    response = http.post(f"/client/v4/accounts/{account}/ai-search/instances", json=body)
    assert response.status_code == 400, response.text
    assert words in response.json()["errors"][0]["message"]
    assert http.get(f"/client/v4/accounts/{account}/ai-search/instances").json()["result"] == []  # nothing half made
    assert http.get(f"/client/v4/accounts/{account}/vectorize/v2/indexes").json()["result"] == []


def test_duplicates_and_fixed_settings(cf, account):
    ns = cf.aisearch.namespaces.instances
    ns.create("default", account_id=account, id="docs")
    with pytest.raises(cloudflare.BadRequestError, match="already exists"):
        ns.create("default", account_id=account, id="docs")
    with pytest.raises(cloudflare.BadRequestError, match="cannot change"):
        ns.update("docs", account_id=account, name="default", embedding_model="@cf/baai/bge-base-en-v1.5")
    # a Vectorize index already holding the name kumo would use is a clear conflict, not a takeover
    cf.vectorize.indexes.create(account_id=account, name="ai-search-taken", config={"dimensions": 3, "metric": "cosine"})
    with pytest.raises(cloudflare.BadRequestError, match="already has a Vectorize index"):
        ns.create("default", account_id=account, id="taken")


def test_namespaces(cf, account):
    names = cf.aisearch.namespaces
    names.create(account_id=account, name="team-a", description="Team A")
    assert [n.name for n in names.list(account_id=account)] == ["default", "team-a"]
    assert names.read("team-a", account_id=account).description == "Team A"
    instances = cf.aisearch.namespaces.instances
    instances.create("team-a", account_id=account, id="docs")
    instances.create("default", account_id=account, id="docs")  # ids are unique per namespace
    assert [i.namespace for i in instances.list("team-a", account_id=account)] == ["team-a"]
    with pytest.raises(cloudflare.BadRequestError, match="still has instances"):
        names.delete("team-a", account_id=account)
    with pytest.raises(cloudflare.NotFoundError):
        instances.list("nope", account_id=account)
    with pytest.raises(cloudflare.BadRequestError):
        names.delete("default", account_id=account)
    instances.delete("docs", account_id=account, name="team-a")
    names.delete("team-a", account_id=account)
    assert [n.name for n in names.list(account_id=account)] == ["default"]


def test_stats(cf, account):
    cf.aisearch.namespaces.instances.create("default", account_id=account, id="docs")
    upload(cf, account, "docs", "a.md", b"# A\n\nSome text about apples.")
    upload(cf, account, "docs", "b.pdf", b"not a pdf")
    stats = cf.aisearch.namespaces.instances.stats("docs", account_id=account, name="default")
    assert (stats.completed, stats.error, stats.queued, stats.running) == (1, 1, 0, 0)
    assert stats.engine.vectorize.vectors_count == 1 and stats.engine.vectorize.dimensions == 384
    assert stats.engine.r2.object_count == 2 and stats.last_activity is not None


def test_accounts_do_not_see_each_other(cf):
    a, b = "acct-iso-a", "acct-iso-b"
    for account in (a, b):
        for inst in cf.aisearch.namespaces.instances.list("default", account_id=account):
            cf.aisearch.namespaces.instances.delete(inst.id, account_id=account, name="default")
    cf.aisearch.namespaces.instances.create("default", account_id=a, id="private")
    upload(cf, a, "private", "secret.md", b"The launch code is swordfish.")
    assert list(cf.aisearch.namespaces.instances.list("default", account_id=b)) == []
    with pytest.raises(cloudflare.NotFoundError):
        search(cf, b, "private", "launch code")
    # the same id in another account is another instance, with its own (empty) indexes
    cf.aisearch.namespaces.instances.create("default", account_id=b, id="private")
    assert search(cf, b, "private", "launch code swordfish", retrieval_type="hybrid", match_threshold=0).chunks == []
    assert search(cf, a, "private", "launch code swordfish", retrieval_type="keyword").chunks[0].item.key == "secret.md"


def test_a_token_limited_to_one_account(tmp_path):
    from tests.conftest import Server

    srv = Server(tmp_path / "data", env={"KUMO_API_TOKENS": "tok-a:acct-a"}).start()
    try:
        def get(account):
            return httpx.get(f"{srv.url}/client/v4/accounts/{account}/ai-search/instances",
                             headers={"authorization": "Bearer tok-a"}, timeout=30)

        assert get("acct-a").status_code == 200
        assert get("acct-b").status_code == 403
        # with tokens configured, folder sources must live under <data_dir>/aisearch-sources
        outside = tmp_path / "docs"
        outside.mkdir()
        response = httpx.post(f"{srv.url}/client/v4/accounts/acct-a/ai-search/instances",
                              headers={"authorization": "Bearer tok-a"}, timeout=30,
                              json={"id": "docs", "source": str(outside)})
        assert response.status_code == 400 and "aisearch-sources" in response.json()["errors"][0]["message"]
    finally:
        srv.stop()
