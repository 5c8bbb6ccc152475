"""`info` says how far the embedded engine's HNSW graph, built behind the writes, has come (`kumoGraph`),
and queries stay exact-or-graph answers meanwhile."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import Server
from tests.vectorize.helpers import make_vectors, ndjson, oracle


@pytest.fixture(scope="module")
def small_threshold(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("graph") / "data", env={"KUMO_VECTORIZE_ANN_THRESHOLD": "100"}).start()
    yield srv
    srv.stop()


def test_info_reports_graph_progress(small_threshold):
    with httpx.Client(base_url=small_threshold.url, headers={"authorization": "Bearer t"}, timeout=60) as c:
        base = "/client/v4/accounts/acc/vectorize/v2/indexes"
        assert c.post(base, json={"name": "gg", "config": {"dimensions": 8, "metric": "cosine"}}).status_code == 201
        assert "kumoGraph" not in c.get(f"{base}/gg/info").json()["result"]  # empty: no graph
        vectors = make_vectors(600, 8, seed=5)
        assert c.post(f"{base}/gg/insert", content=ndjson(vectors)).status_code == 200
        deadline = time.monotonic() + 60
        while True:
            info = c.get(f"{base}/gg/info").json()["result"]
            graph = info.get("kumoGraph")
            assert info["vectorCount"] == 600
            if graph is not None:
                assert graph["indexedVectors"] + graph["pendingVectors"] == 600
                if graph["pendingVectors"] == 0:
                    break
            assert time.monotonic() < deadline, info
            time.sleep(0.05)
        assert graph == {"indexedVectors": 600, "pendingVectors": 0}
        assert c.post(f"{base}/gg/delete_by_ids", json={"ids": ["v0", "v1"]}).status_code == 200
        assert c.get(f"{base}/gg/info").json()["result"]["kumoGraph"] == {"indexedVectors": 598, "pendingVectors": 0}
        q = vectors[7]["values"]
        got = c.post(f"{base}/gg/query", json={"vector": q, "topK": 3}).json()["result"]["matches"]
        assert got[0]["id"] == "v7" and got[0]["score"] == pytest.approx(oracle(vectors, q, "cosine", 1)[0][1])
