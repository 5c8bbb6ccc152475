"""PostgreSQL bulk path: new rows by binary COPY, the HNSW graph built once after a load (by the engine's
builder when the writes pause), exact answers until then and graph answers after, over real HTTP."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest

from tests.conftest import Server
from tests.vectorize.helpers import ndjson, oracle


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory, pg_url):
    srv = Server(tmp_path_factory.mktemp("pg-bulk") / "data",
                 env={"KUMO_DATABASE_URL": pg_url, "KUMO_VECTORIZE_ANN_THRESHOLD": "300"}).start()
    yield srv
    srv.stop()


def test_load_then_graph_then_writes(pg_server, account):
    rng = np.random.default_rng(11)
    centres = rng.normal(size=(12, 16))
    points = (centres[rng.integers(0, 12, 900)] + 0.2 * rng.normal(size=(900, 16))).astype(np.float32)
    vectors = [{"id": f"p{i}", "values": points[i].astype(float).tolist(), "namespace": "ns" if i % 3 == 0 else None,
                "metadata": {"i": i}} for i in range(900)]
    vectors = [{k: v for k, v in vec.items() if v is not None} for vec in vectors]
    with httpx.Client(base_url=f"{pg_server.url}/client/v4/accounts/{account}/vectorize/v2/indexes",
                      headers={"authorization": "Bearer t"}, timeout=120) as c:
        c.post("", json={"name": "bulk", "config": {"dimensions": 16, "metric": "cosine"}}).raise_for_status()
        for start in range(0, 800, 200):  # COPY: no graph yet, nothing grown row by row
            c.post("/bulk/insert", content=ndjson(vectors[start : start + 200])).raise_for_status()
        # an upsert mixing new rows (COPY) and replacements (INSERT ... ON CONFLICT)
        changed = [dict(v, metadata={"i": -1}) for v in vectors[:40]] + vectors[800:860]
        c.post("/bulk/upsert", content=ndjson(changed)).raise_for_status()
        current = [dict(v, metadata={"i": -1}) if i < 40 else v for i, v in enumerate(vectors[:860])]
        got = c.post("/bulk/get_by_ids", json={"ids": ["p0", "p850", "p5"]}).json()["result"]
        assert [(g["id"], g["metadata"]["i"]) for g in got] == [("p0", -1), ("p850", 850), ("p5", -1)]
        assert got[1]["values"] == pytest.approx(vectors[850]["values"], rel=1e-6)
        assert got[0].get("namespace") == "ns" and "namespace" not in got[2]
        info = c.get("/bulk/info").json()["result"]
        assert info["vectorCount"] == 860

        def query(q, **extra):
            return c.post("/bulk/query", json={"vector": q.tolist(), "topK": 10, **extra}).json()["result"]["matches"]

        queries = points[::90] + 0.05
        for q in queries:  # no graph yet: exact
            want = oracle(current, q.tolist(), "cosine", 10)
            assert [(m["id"], pytest.approx(m["score"], rel=1e-9)) for m in query(q)] == [
                (i, pytest.approx(s, rel=1e-9)) for i, s in want]
        deadline = time.monotonic() + 90
        while (graph := c.get("/bulk/info").json()["result"].get("kumoGraph")) != {
                "indexedVectors": 860, "pendingVectors": 0}:
            assert graph == {"indexedVectors": 0, "pendingVectors": 860}, graph
            assert time.monotonic() < deadline, "the builder did not build the graph once the writes paused"
            time.sleep(0.2)
        hits = 0
        for q in queries:
            want = oracle(current, q.tolist(), "cosine", 10)
            got = query(q)
            hits += len({w[0] for w in want} & {m["id"] for m in got})
            scores = {i: s for i, s in oracle(current, q.tolist(), "cosine", 900)}
            assert all(m["score"] == pytest.approx(scores[m["id"]], rel=1e-9) for m in got)
        assert hits / (10 * len(queries)) >= 0.9
        # writes after the graph: kept in it by PostgreSQL, seen at once; filtered queries stay exact
        c.post("/bulk/insert", content=ndjson(vectors[860:])).raise_for_status()
        q = points[880] + 0.01
        assert query(q)[0]["id"] == "p880"
        # the graph's answer carries what was asked: values, all metadata, namespaces; indexed metadata only
        # for vectors written after their metadata index
        by_id = {v["id"]: v for v in current + vectors[860:]}
        for m in query(q, returnValues=True, returnMetadata="all"):
            assert m["metadata"] == by_id[m["id"]]["metadata"] and m.get("namespace") == by_id[m["id"]].get("namespace")
            assert m["values"] == pytest.approx(by_id[m["id"]]["values"], rel=1e-6)
        c.post("/bulk/metadata_index/create", json={"propertyName": "i", "indexType": "number"}).raise_for_status()
        c.post("/bulk/upsert", content=ndjson([dict(vectors[880], metadata={"i": 7, "x": 1})])).raise_for_status()
        got = {m["id"]: m["metadata"] for m in query(q, returnMetadata="indexed")}
        assert got.pop("p880") == {"i": 7} and all(meta == {} for meta in got.values())
        want = oracle(vectors, q.tolist(), "cosine", 5, lambda v: v.get("namespace") == "ns")
        assert [m["id"] for m in query(q, namespace="ns", topK=5)] == [w[0] for w in want]
        assert c.get("/bulk/info").json()["result"]["vectorCount"] == 900
        c.delete("/bulk").raise_for_status()
