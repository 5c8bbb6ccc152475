"""Vectorize v2 end to end through the official `cloudflare` SDK against a running `kumo serve`."""

from __future__ import annotations

import json

import cloudflare
import numpy as np
import pytest

from tests.vectorize.helpers import make_vectors, ndjson, oracle



def create(cf, account, name="idx", dims=8, metric="cosine"):
    return cf.vectorize.indexes.create(account_id=account, name=name, config={"dimensions": dims, "metric": metric})


def test_index_lifecycle(cf, account):
    created = cf.vectorize.indexes.create(
        account_id=account, name="docs", config={"dimensions": 8, "metric": "cosine"}, description="my docs"
    )
    assert created.name == "docs" and created.config.dimensions == 8 and created.config.metric == "cosine"
    assert created.description == "my docs" and created.created_on is not None
    assert [ix.name for ix in cf.vectorize.indexes.list(account_id=account)] == ["docs"]
    assert cf.vectorize.indexes.get("docs", account_id=account).config.dimensions == 8
    info = cf.vectorize.indexes.info("docs", account_id=account)
    assert info.dimensions == 8 and info.vector_count == 0
    cf.vectorize.indexes.delete("docs", account_id=account)
    with pytest.raises(cloudflare.NotFoundError) as err:
        cf.vectorize.indexes.get("docs", account_id=account)
    assert err.value.errors[0].code == 3000
    # names can be reused after deletion
    create(cf, account, "docs")


def test_preset_and_duplicate(cf, account):
    ix = cf.vectorize.indexes.create(account_id=account, name="pp", config={"preset": "@cf/baai/bge-small-en-v1.5"})
    assert ix.config.dimensions == 384 and ix.config.metric == "cosine"
    with pytest.raises(cloudflare.BadRequestError) as err:
        create(cf, account, "pp")
    assert err.value.errors[0].code == 3002


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot-product"])
def test_query_scores_and_order_match_numpy(cf, account, metric):
    create(cf, account, dims=16, metric=metric)
    vectors = make_vectors(300, 16, seed=1)
    result = cf.vectorize.indexes.upsert("idx", account_id=account, body=ndjson(vectors))
    assert result.mutation_id
    q = np.random.default_rng(7).normal(size=16).astype(float).tolist()
    got = cf.vectorize.indexes.query("idx", account_id=account, vector=q, top_k=10)
    want = oracle(vectors, q, metric, 10)
    assert got.count == 10
    assert [m.id for m in got.matches] == [w[0] for w in want]
    for m, (_, score) in zip(got.matches, want):
        assert m.score == pytest.approx(score, rel=1e-5, abs=1e-5)
        assert m.values is None and m.metadata is None


def test_sdk_string_body_bytes_body_and_info_mutation(cf, account):
    create(cf, account, dims=4)
    vectors = make_vectors(20, 4)
    m1 = cf.vectorize.indexes.insert("idx", account_id=account, body=ndjson(vectors[:10]))  # JSON string literal
    m2 = cf.vectorize.indexes.insert("idx", account_id=account, body=ndjson(vectors[10:]).encode())  # raw bytes
    info = cf.vectorize.indexes.info("idx", account_id=account)
    assert info.vector_count == 20
    assert info.processed_up_to_mutation == m2.mutation_id != m1.mutation_id
    assert info.processed_up_to_datetime is not None


def test_insert_keeps_first_upsert_replaces_whole(cf, account):
    create(cf, account, dims=3)
    first = {"id": "a", "values": [1, 0, 0], "metadata": {"v": 1, "keep": True}, "namespace": "ns1"}
    second = {"id": "a", "values": [0, 1, 0], "metadata": {"v": 2}}
    cf.vectorize.indexes.insert("idx", account_id=account, body=ndjson([first]))
    cf.vectorize.indexes.insert("idx", account_id=account, body=ndjson([second]))
    [got] = cf.vectorize.indexes.get_by_ids("idx", account_id=account, ids=["a"])
    assert got["values"] == [1.0, 0.0, 0.0] and got["metadata"] == {"v": 1, "keep": True}
    assert got["namespace"] == "ns1"
    cf.vectorize.indexes.upsert("idx", account_id=account, body=ndjson([second]))
    [got] = cf.vectorize.indexes.get_by_ids("idx", account_id=account, ids=["a"])
    assert got["values"] == [0.0, 1.0, 0.0] and got["metadata"] == {"v": 2} and "namespace" not in got
    assert cf.vectorize.indexes.info("idx", account_id=account).vector_count == 1


def test_return_values_and_metadata_modes(cf, account):
    create(cf, account, dims=4)
    cf.vectorize.indexes.metadata_index.create("idx", account_id=account, property_name="parity", index_type="string")
    vectors = make_vectors(10, 4)
    cf.vectorize.indexes.upsert("idx", account_id=account, body=ndjson(vectors))
    q = vectors[3]["values"]
    res = cf.vectorize.indexes.query("idx", account_id=account, vector=q, top_k=1, return_values=True,
                                     return_metadata="all")
    top = res.matches[0]
    assert top.id == "v3" and top.score == pytest.approx(1.0, abs=1e-6)
    assert top.values == pytest.approx(np.float32(vectors[3]["values"]).astype(float).tolist())
    assert top.metadata == vectors[3]["metadata"]
    res = cf.vectorize.indexes.query("idx", account_id=account, vector=q, top_k=1, return_metadata="indexed")
    assert res.matches[0].metadata == {"parity": "odd"}
    res = cf.vectorize.indexes.query("idx", account_id=account, vector=q, top_k=1, return_metadata="none")
    assert res.matches[0].metadata is None


def test_filters_are_exact_and_respect_metadata_indexes(cf, account):
    create(cf, account, dims=8, metric="euclidean")
    vectors = make_vectors(400, 8, seed=3)
    # written before the metadata index exists: not filterable until re-upserted (Cloudflare's rule)
    cf.vectorize.indexes.upsert("idx", account_id=account, body=ndjson(vectors[:100]))
    for prop, kind in [("n", "number"), ("parity", "string"), ("flag", "boolean"), ("nested.k", "number")]:
        cf.vectorize.indexes.metadata_index.create("idx", account_id=account, property_name=prop, index_type=kind)
    cf.vectorize.indexes.upsert("idx", account_id=account, body=ndjson(vectors[100:]))
    q = np.random.default_rng(11).normal(size=8).tolist()
    cases = [
        ({"parity": "even"}, lambda v: v["metadata"]["parity"] == "even"),
        ({"n": {"$gte": 150, "$lt": 300}}, lambda v: 150 <= v["metadata"]["n"] < 300),
        ({"flag": True, "parity": {"$ne": "odd"}}, lambda v: v["metadata"]["flag"] and v["metadata"]["parity"] != "odd"),
        ({"nested.k": {"$in": [1, 3]}}, lambda v: v["metadata"]["nested"]["k"] in (1, 3)),
        ({"n": {"$in": [5, 105, 205.0]}}, lambda v: v["metadata"]["n"] in (5, 105, 205)),
        ({"parity": {"$gt": "even"}}, lambda v: v["metadata"]["parity"] == "odd"),
        ({"n": {"$lte": 120}}, lambda v: 100 <= v["metadata"]["n"] <= 120),
    ]
    for flt, keep in cases:
        indexed = lambda v, keep=keep: int(v["id"][1:]) >= 100 and keep(v)  # noqa: E731
        res = cf.vectorize.indexes.query("idx", account_id=account, vector=q, top_k=20, filter=flt)
        want = oracle(vectors, q, "euclidean", 20, indexed)
        assert [m.id for m in res.matches] == [w[0] for w in want], flt
    # $ne / $nin also match vectors that lack the (indexed) property, as in MongoDB
    res = cf.vectorize.indexes.query("idx", account_id=account, vector=q, top_k=50,
                                     filter={"nested.k": {"$nin": [0, 1, 2, 3]}})
    want = oracle(vectors, q, "euclidean", 50,
                  lambda v: int(v["id"][1:]) < 100 or v["metadata"]["nested"]["k"] == 4)
    assert [m.id for m in res.matches] == [w[0] for w in want]
    res = cf.vectorize.indexes.query("idx", account_id=account, vector=q, top_k=50, filter={"n": {"$eq": None}})
    assert res.count == 50 and all(int(m.id[1:]) < 100 for m in res.matches)  # only the unindexed ones
    # a property with no metadata index matches nothing
    res = cf.vectorize.indexes.query("idx", account_id=account, vector=q, top_k=5, filter={"text": "item 150"})
    assert res.count == 0
    # re-upserting an old vector makes it filterable
    cf.vectorize.indexes.upsert("idx", account_id=account, body=ndjson(vectors[10:11]))
    res = cf.vectorize.indexes.query("idx", account_id=account, vector=q, top_k=5, filter={"n": 10})
    assert [m.id for m in res.matches] == ["v10"]


def test_namespaces_are_applied_first(http, account):
    http.post(f"/client/v4/accounts/{account}/vectorize/v2/indexes",
              json={"name": "idx", "config": {"dimensions": 8, "metric": "cosine"}}).raise_for_status()
    vectors = make_vectors(200, 8, namespaces=["a", "b", "c"])
    r = http.post(f"/client/v4/accounts/{account}/vectorize/v2/indexes/idx/upsert", content=ndjson(vectors),
                  headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    q = vectors[0]["values"]
    r = http.post(f"/client/v4/accounts/{account}/vectorize/v2/indexes/idx/query",
                  json={"vector": q, "topK": 30, "namespace": "b", "returnMetadata": "all"})
    matches = r.json()["result"]["matches"]
    want = oracle(vectors, q, "cosine", 30, lambda v: v["namespace"] == "b")
    assert [m["id"] for m in matches] == [w[0] for w in want]
    assert all(m["namespace"] == "b" for m in matches)


def test_query_by_vector_id(http, account):
    base = f"/client/v4/accounts/{account}/vectorize/v2/indexes"
    http.post(base, json={"name": "idx", "config": {"dimensions": 8, "metric": "cosine"}}).raise_for_status()
    vectors = make_vectors(50, 8)
    http.post(f"{base}/idx/insert", content=ndjson(vectors)).raise_for_status()
    r = http.post(f"{base}/idx/query", json={"vectorId": "v7", "topK": 3})
    want = oracle(vectors, vectors[7]["values"], "cosine", 3)
    assert [m["id"] for m in r.json()["result"]["matches"]] == [w[0] for w in want]


def test_get_delete_and_list_paging(cf, account):
    create(cf, account, dims=4)
    vectors = make_vectors(25, 4)
    cf.vectorize.indexes.insert("idx", account_id=account, body=ndjson(vectors))
    got = cf.vectorize.indexes.get_by_ids("idx", account_id=account, ids=["v1", "missing", "v2"])
    assert [g["id"] for g in got] == ["v1", "v2"]
    deleted = cf.vectorize.indexes.delete_by_ids("idx", account_id=account, ids=["v1", "v2", "nope"])
    info = cf.vectorize.indexes.info("idx", account_id=account)
    assert info.vector_count == 23 and info.processed_up_to_mutation == deleted.mutation_id
    seen, cursor = [], None
    while True:
        page = cf.vectorize.indexes.list_vectors("idx", account_id=account, count=10, cursor=cursor)
        assert page.total_count == 23
        seen += [v.id for v in page.vectors]
        if not page.is_truncated:
            assert page.next_cursor is None
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(v["id"] for v in vectors if v["id"] not in ("v1", "v2"))
    res = cf.vectorize.indexes.query("idx", account_id=account, vector=vectors[1]["values"], top_k=100)
    assert "v1" not in [m.id for m in res.matches] and res.count == 23


def test_metadata_index_management(cf, account):
    create(cf, account, dims=4)
    mi = cf.vectorize.indexes.metadata_index
    mi.create("idx", account_id=account, property_name="a", index_type="string")
    mi.create("idx", account_id=account, property_name="a", index_type="string")  # duplicate: 200, no-op
    mi.create("idx", account_id=account, property_name="b", index_type="boolean")
    listed = mi.list("idx", account_id=account)
    assert [(m.property_name, m.index_type) for m in listed.metadata_indexes] == [("a", "string"), ("b", "boolean")]
    mi.delete("idx", account_id=account, property_name="a")
    assert [m.property_name for m in mi.list("idx", account_id=account).metadata_indexes] == ["b"]
    with pytest.raises(cloudflare.NotFoundError) as err:
        mi.delete("idx", account_id=account, property_name="a")
    assert err.value.errors[0].code == 40005
    for i in range(9):
        mi.create("idx", account_id=account, property_name=f"p{i}", index_type="number")
    with pytest.raises(cloudflare.BadRequestError):
        mi.create("idx", account_id=account, property_name="p9", index_type="number")


def test_string_metadata_index_uses_first_64_bytes(cf, account):
    create(cf, account, dims=2)
    cf.vectorize.indexes.metadata_index.create("idx", account_id=account, property_name="s", index_type="string")
    long = "é" * 40  # 80 bytes in UTF-8
    body = ndjson([{"id": "x", "values": [1, 0], "metadata": {"s": long}}])
    cf.vectorize.indexes.upsert("idx", account_id=account, body=body)
    res = cf.vectorize.indexes.query("idx", account_id=account, vector=[1, 0], top_k=1, filter={"s": "é" * 32},
                                     return_metadata="indexed")
    assert [m.id for m in res.matches] == ["x"]
    assert res.matches[0].metadata == {"s": "é" * 32}
    res = cf.vectorize.indexes.query("idx", account_id=account, vector=[1, 0], top_k=1, return_metadata="all")
    assert res.matches[0].metadata == {"s": long}


def test_multipart_upload_like_wrangler(http, account):
    base = f"/client/v4/accounts/{account}/vectorize/v2/indexes"
    http.post(base, json={"name": "idx", "config": {"dimensions": 4, "metric": "cosine"}}).raise_for_status()
    vectors = make_vectors(30, 4)
    r = http.post(f"{base}/idx/insert",
                  files={"vectors": ("vectors.ndjson", ndjson(vectors).encode(), "application/x-ndjson")})
    assert r.status_code == 200, r.text
    assert http.get(f"{base}/idx/info").json()["result"]["vectorCount"] == 30


def test_json_vectors_body_and_discard(http, account):
    base = f"/client/v4/accounts/{account}/vectorize/v2/indexes"
    http.post(base, json={"name": "idx", "config": {"dimensions": 2, "metric": "cosine"}}).raise_for_status()
    r = http.post(f"{base}/idx/upsert", json={"vectors": [{"id": "a", "values": [1, 2]}]})
    assert r.status_code == 200, r.text
    body = '{"id": "b", "values": [1, 2]}\nnot json\n{"id": "c", "values": [1]}\n{"id": "d", "values": [3, 4]}\n'
    r = http.post(f"{base}/idx/upsert", content=body)
    assert r.status_code == 400 and "line 2" in r.json()["errors"][0]["message"]
    assert http.get(f"{base}/idx/info").json()["result"]["vectorCount"] == 1  # nothing half-applied
    r = http.post(f"{base}/idx/upsert?unparsable_behavior=discard", content=body)
    assert r.status_code == 200
    ids = [v["id"] for v in http.get(f"{base}/idx/list").json()["result"]["vectors"]]
    assert ids == ["a", "b", "d"]


def test_langchain_style_ndjson_and_info_polling(http, account):
    """LangChain's CloudflareVectorize sends raw NDJSON as application/x-ndjson and polls /info."""
    base = f"/client/v4/accounts/{account}/vectorize/v2/indexes"
    assert http.get(f"{base}/lc").status_code == 404  # its create_index pre-check expects 404/410
    http.post(base, json={"name": "lc", "config": {"dimensions": 4, "metric": "cosine"}}).raise_for_status()
    lines = "\n".join(json.dumps(v) for v in make_vectors(5, 4))
    r = http.post(f"{base}/lc/upsert", content=lines, headers={"content-type": "application/x-ndjson"})
    mutation = r.json()["result"]["mutationId"]
    info = http.get(f"{base}/lc/info").json()["result"]
    assert info["processedUpToMutation"] == mutation and info["dimensions"] == 4
