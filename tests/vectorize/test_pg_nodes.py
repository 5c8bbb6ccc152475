"""Two kumo nodes on one PostgreSQL database (pgvector engine): concurrent writers of one index lose no
update and make no duplicate id, an index written through one node is queried through the other (the
HNSW path included), and `kill -9` of a node loses nothing it acknowledged."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from tests.conftest import Server
from tests.vectorize.helpers import make_vectors, ndjson, oracle


@pytest.fixture(scope="module")
def nodes(tmp_path_factory, pg_url):
    env = {"KUMO_DATABASE_URL": pg_url, "KUMO_VECTORIZE_ANN_THRESHOLD": "500"}
    a = Server(tmp_path_factory.mktemp("vx-node-a") / "data", env=env).start()
    b = Server(tmp_path_factory.mktemp("vx-node-b") / "data", env=env).start()
    yield a, b
    a.stop()
    b.stop()


def client(srv: Server, account: str) -> httpx.Client:
    return httpx.Client(base_url=f"{srv.url}/client/v4/accounts/{account}/vectorize/v2/indexes",
                        headers={"authorization": "Bearer t"}, timeout=60)


def all_ids(c: httpx.Client, index: str) -> list[str]:
    ids, cursor = [], None
    while True:
        page = c.get(f"/{index}/list", params={"count": 1000, **({"cursor": cursor} if cursor else {})})
        result = page.json()["result"]
        ids += [v["id"] for v in result["vectors"]]
        if not result["isTruncated"]:
            return ids
        cursor = result["nextCursor"]


def test_concurrent_writers_on_two_nodes(nodes, account):
    a, b = (client(n, account) for n in nodes)
    a.post("", json={"name": "shared", "config": {"dimensions": 8, "metric": "cosine"}}).raise_for_status()
    # node A writes ids 0..399, node B ids 200..599 with other values: 200..399 are written by both
    mine = make_vectors(600, 8, seed=1)
    theirs = make_vectors(600, 8, seed=2)
    jobs = [(a, mine[s : s + 40]) for s in range(0, 400, 40)] + [(b, theirs[s : s + 40]) for s in range(200, 600, 40)]
    order = np.random.default_rng(0).permutation(len(jobs))

    def upsert(job):
        c, chunk = job
        r = c.post("/shared/upsert", content=ndjson(chunk))
        assert r.status_code == 200, r.text
        return r.json()["result"]["mutationId"]

    with ThreadPoolExecutor(8) as pool:
        mutations = list(pool.map(upsert, [jobs[i] for i in order]))
    ids = all_ids(b, "shared")
    assert len(ids) == len(set(ids)) == 600  # no duplicate id, none lost
    info_a, info_b = a.get("/shared/info").json()["result"], b.get("/shared/info").json()["result"]
    assert info_a == info_b and info_a["vectorCount"] == 600
    assert info_a["processedUpToMutation"] in mutations
    got = {v["id"]: v["values"] for v in a.post("/shared/get_by_ids", json={"ids": [f"v{i}" for i in range(600)]})
           .json()["result"]}
    f32 = lambda v: np.float32(v["values"]).astype(float).tolist()  # noqa: E731
    for i in range(600):  # every acknowledged vector is there, whole: one writer's version or the other's
        versions = ([f32(mine[i])] if i < 400 else []) + ([f32(theirs[i])] if i >= 200 else [])
        assert got[f"v{i}"] in versions, i

    # inserts of the same new ids through both nodes at once: each id lands once, first writer wins
    fresh = make_vectors(700, 8, seed=3)[600:]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda c: c.post("/shared/insert", content=ndjson(fresh)), [a, b, a, b]))
    assert all(r.status_code == 200 for r in results)
    assert b.get("/shared/info").json()["result"]["vectorCount"] == 700
    a.close()
    b.close()


def test_index_written_through_one_node_is_queried_through_the_other(nodes, account):
    a, b = (client(n, account) for n in nodes)
    a.post("", json={"name": "docs", "config": {"dimensions": 16, "metric": "euclidean"}}).raise_for_status()
    a.post("/docs/metadata_index/create", json={"propertyName": "parity", "indexType": "string"}).raise_for_status()
    rng = np.random.default_rng(4)
    centres = rng.normal(size=(20, 16))
    points = (centres[rng.integers(0, 20, 2000)] + 0.1 * rng.normal(size=(2000, 16))).astype(np.float32)
    vectors = [{"id": f"p{i}", "values": points[i].astype(float).tolist(),
                "metadata": {"parity": "even" if i % 2 == 0 else "odd"}} for i in range(2000)]
    for start in range(0, 2000, 500):
        a.post("/docs/upsert", content=ndjson(vectors[start : start + 500])).raise_for_status()
    assert b.get("/docs/info").json()["result"]["vectorCount"] == 2000
    hits = 0
    for q in points[::200] + 0.05:  # above the ANN threshold: node B walks the HNSW graph
        res = b.post("/docs/query", json={"vector": q.tolist(), "topK": 10}).json()["result"]["matches"]
        want = oracle(vectors, q.tolist(), "euclidean", 10)
        hits += len({w[0] for w in want} & {m["id"] for m in res})
        for m, w in zip(res, want):
            if m["id"] == w[0]:
                assert m["score"] == pytest.approx(w[1], rel=1e-9)  # same float64 scores as embedded
    assert hits / 100 >= 0.95
    q = points[7].tolist()
    res = b.post("/docs/query", json={"vector": q, "topK": 20, "filter": {"parity": "odd"}}).json()["result"]
    want = oracle(vectors, q, "euclidean", 20, lambda v: v["metadata"]["parity"] == "odd")
    assert [m["id"] for m in res["matches"]] == [w[0] for w in want]  # filtered: exact
    b.post("/docs/delete_by_ids", json={"ids": [w[0] for w in want[:5]]}).raise_for_status()
    res = a.post("/docs/query", json={"vector": q, "topK": 20, "filter": {"parity": "odd"}}).json()["result"]
    assert [m["id"] for m in res["matches"]][:15] == [w[0] for w in want[5:]]
    b.post("/docs/metadata_index/create", json={"propertyName": "n", "indexType": "number"}).raise_for_status()
    listed = a.get("/docs/metadata_index/list").json()["result"]["metadataIndexes"]
    assert [m["propertyName"] for m in listed] == ["n", "parity"]
    b.delete("/docs").raise_for_status()
    assert a.get("/docs/info").status_code == 404
    a.close()
    b.close()


def test_kill_9_of_a_node_loses_nothing_acknowledged(tmp_path, pg_url, account):
    env = {"KUMO_DATABASE_URL": pg_url}
    a = Server(tmp_path / "a", env=env).start()
    b = Server(tmp_path / "b", env=env).start()
    try:
        with client(a, account) as ca, client(b, account) as cb:
            ca.post("", json={"name": "kk", "config": {"dimensions": 8, "metric": "dot-product"}}).raise_for_status()
            vectors = make_vectors(4000, 8, seed=6)
            acked: list[str] = []

            def writer():
                for start in range(0, len(vectors), 100):
                    chunk = vectors[start : start + 100]
                    try:
                        r = ca.post("/kk/upsert", content=ndjson(chunk))
                    except httpx.HTTPError:
                        return
                    if r.status_code == 200:
                        acked.extend(v["id"] for v in chunk)

            t = threading.Thread(target=writer)
            t.start()
            while len(acked) < 1000 and t.is_alive():
                time.sleep(0.001)
            a.kill9()  # mid-stream: some batches acknowledged, one perhaps in flight
            t.join()
            count = cb.get("/kk/info").json()["result"]["vectorCount"]  # the other node answers at once
            assert count >= len(acked) >= 1000 and count % 100 == 0  # whole batches only
            for start in range(0, len(acked), 1000):
                got = cb.post("/kk/get_by_ids", json={"ids": acked[start : start + 1000]}).json()["result"]
                assert len(got) == len(acked[start : start + 1000])
            assert len(set(all_ids(cb, "kk"))) == count
    finally:
        b.stop()
        if a.proc and a.proc.poll() is None:
            a.stop()


def test_query_after_the_index_is_made_again_on_the_other_node(nodes, account):
    """A node remembers the index its queries used; once the other node deletes it and makes another of
    the same name (other dimensions), queries answer from the new one, and a deleted index is a 404."""
    a, b = (client(n, account) for n in nodes)
    a.post("", json={"name": "again", "config": {"dimensions": 3, "metric": "euclidean"}}).raise_for_status()
    a.post("/again/insert", content=ndjson([{"id": "old", "values": [1, 0, 0]}])).raise_for_status()
    assert a.post("/again/query", json={"vector": [1, 0, 0]}).json()["result"]["matches"][0]["id"] == "old"
    b.delete("/again").raise_for_status()
    b.post("", json={"name": "again", "config": {"dimensions": 2, "metric": "euclidean"}}).raise_for_status()
    b.post("/again/insert", content=ndjson([{"id": "new", "values": [0, 1]}])).raise_for_status()
    assert a.post("/again/query", json={"vector": [0, 1]}).json()["result"]["matches"][0]["id"] == "new"
    r = a.post("/again/query", json={"vector": [1, 0, 0]})
    assert r.status_code == 400 and "expects 2" in r.json()["errors"][0]["message"]
    b.delete("/again").raise_for_status()
    r = a.post("/again/query", json={"vector": [0, 1]})
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == 3000
    a.close()
    b.close()
