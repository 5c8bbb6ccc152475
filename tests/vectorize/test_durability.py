"""Acknowledged writes survive `kill -9` (both backends); the embedded ANN graph comes back consistent
(rebuilt or from a snapshot)."""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np

from tests.conftest import Server
from tests.vectorize.helpers import make_vectors, ndjson, oracle


def _client(srv: Server, account: str = "dur") -> httpx.Client:
    return httpx.Client(base_url=srv.url + f"/client/v4/accounts/{account}/vectorize/v2/indexes",
                        headers={"authorization": "Bearer t"}, timeout=60)


def test_acknowledged_writes_survive_kill_9(tmp_path, backend_env, account):
    data = tmp_path / "data"
    srv = Server(data, env=backend_env).start()
    acked: list[str] = []
    stop = threading.Event()
    with _client(srv, account) as c:
        c.post("", json={"name": "dd", "config": {"dimensions": 8, "metric": "cosine"}}).raise_for_status()
        c.post("/dd/metadata_index/create", json={"propertyName": "n", "indexType": "number"}).raise_for_status()
        vectors = make_vectors(3000, 8, seed=5)

        def writer():
            for start in range(0, len(vectors), 100):
                if stop.is_set():
                    return
                chunk = vectors[start : start + 100]
                try:
                    r = c.post("/dd/upsert", content=ndjson(chunk))
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    acked.extend(v["id"] for v in chunk)

        t = threading.Thread(target=writer)
        t.start()
        while len(acked) < 1000 and t.is_alive():
            time.sleep(0.001)
        srv.kill9()  # mid-stream: some batches acknowledged, one perhaps in flight
        stop.set()
        t.join()
    assert len(acked) >= 1000

    srv2 = Server(data, env=backend_env).start()
    try:
        with _client(srv2, account) as c:
            count = c.get("/dd/info").json()["result"]["vectorCount"]
            assert count >= len(acked) and count % 100 == 0  # whole batches only: nothing half-applied
            for start in range(0, len(acked), 1000):
                got = c.post("/dd/get_by_ids", json={"ids": acked[start : start + 1000]}).json()["result"]
                assert len(got) == len(acked[start : start + 1000])
            stored = {v["id"] for v in vectors[:count]}
            q = vectors[42]["values"]
            res = c.post("/dd/query", json={"vector": q, "topK": 10, "filter": {"n": {"$lt": 500}}}).json()["result"]
            want = oracle([v for v in vectors if v["id"] in stored], q, "cosine", 10, lambda v: v["metadata"]["n"] < 500)
            assert [m["id"] for m in res["matches"]] == [w[0] for w in want]
    finally:
        srv2.stop()


def test_ann_index_restart_with_snapshot_and_after_crash(tmp_path):
    """Large enough to use HNSW; a graceful stop leaves a snapshot, a crash forces a rebuild: both answer
    the same as numpy."""
    data = tmp_path / "data"
    env = {"KUMO_VECTORIZE_ANN_THRESHOLD": "500"}
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 16))
    points = centres[rng.integers(0, 20, 3000)] + 0.1 * rng.normal(size=(3000, 16))
    vectors = [{"id": f"p{i}", "values": points[i].astype(np.float32).astype(float).tolist()} for i in range(3000)]
    queries = [points[i] + 0.05 * rng.normal(size=16) for i in range(0, 3000, 300)]

    def recall(c) -> float:
        hits = 0
        for q in queries:
            res = c.post("/aa/query", json={"vector": q.tolist(), "topK": 10}).json()["result"]["matches"]
            want = {w[0] for w in oracle(vectors, q.tolist(), "cosine", 10)}
            hits += len(want & {m["id"] for m in res})
        return hits / (10 * len(queries))

    srv = Server(data, env=env).start()
    with _client(srv) as c:
        c.post("", json={"name": "aa", "config": {"dimensions": 16, "metric": "cosine"}}).raise_for_status()
        for start in range(0, 3000, 1000):
            c.post("/aa/insert", content=ndjson(vectors[start : start + 1000])).raise_for_status()
        assert recall(c) >= 0.95  # graph may still be catching up: the tail is scanned exactly
    srv.stop()
    assert list((data / "vectorize-snapshots").glob("*.hnsw")), "graceful stop should snapshot the graph"

    srv = Server(data, env=env).start()
    with _client(srv) as c:
        assert c.get("/aa/info").json()["result"]["vectorCount"] == 3000
        assert recall(c) >= 0.95
        c.post("/aa/delete_by_ids", json={"ids": [f"p{i}" for i in range(100)]}).raise_for_status()
        res = c.post("/aa/query", json={"vector": vectors[5]["values"], "topK": 10}).json()["result"]["matches"]
        assert all(int(m["id"][1:]) >= 100 for m in res)
    srv.kill9()

    srv = Server(data, env=env).start()  # snapshot is stale now: must not be trusted
    try:
        with _client(srv) as c:
            assert c.get("/aa/info").json()["result"]["vectorCount"] == 2900
            res = c.post("/aa/query", json={"vector": vectors[5]["values"], "topK": 10}).json()["result"]["matches"]
            assert all(int(m["id"][1:]) >= 100 for m in res) and len(res) == 10
    finally:
        srv.stop()


def test_a_snapshot_mostly_of_retired_slots_is_rebuilt_compact(tmp_path):
    """Upserts retire slots; a graph snapshot keeps them. Restarted from one whose slots are mostly retired, the
    index is rebuilt compact from the database instead, and answers the same."""
    data = tmp_path / "data"
    env = {"KUMO_VECTORIZE_ANN_THRESHOLD": "500"}
    rng = np.random.default_rng(1)
    points = rng.normal(size=(1500, 16))
    vectors = [{"id": f"p{i}", "values": points[i].astype(np.float32).astype(float).tolist()} for i in range(1500)]
    srv = Server(data, env=env).start()
    with _client(srv) as c:
        c.post("", json={"name": "up", "config": {"dimensions": 16, "metric": "cosine"}}).raise_for_status()
        for _ in range(3):  # 1,500 live slots, 3,000 retired
            c.post("/up/upsert", content=ndjson(vectors)).raise_for_status()
        deadline = time.monotonic() + 60
        while c.get("/up/info").json()["result"].get("kumoGraph", {}).get("pendingVectors") != 0:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    srv.stop()
    assert list((data / "vectorize-snapshots").glob("*.hnsw"))

    srv = Server(data, env=env).start()
    try:
        with _client(srv) as c:
            q = vectors[7]["values"]
            res = c.post("/up/query", json={"vector": q, "topK": 5}).json()["result"]["matches"]
            assert [m["id"] for m in res] == [w[0] for w in oracle(vectors, q, "cosine", 5)]
            assert c.get("/up/info").json()["result"]["vectorCount"] == 1500
        assert "3000 of its 4500 slots are retired" in srv.log.read_text()
        assert not list((data / "vectorize-snapshots").glob("*.hnsw"))  # dropped, not trusted again
    finally:
        srv.stop()
