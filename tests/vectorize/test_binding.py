"""`kumo.Env().VECTORIZE(index)`: the Workers binding shape, in process, same answers as HTTP."""

from __future__ import annotations

import numpy as np
import pytest

import kumo
from kumo.errors import InvalidRequest, NotFound
from tests.vectorize.helpers import make_vectors, oracle


def test_binding_roundtrip(tmp_path, backend_settings):
    with kumo.Env(data_dir=tmp_path, **backend_settings) as env:
        env.vectorize.create_index(env.account_id, "docs", {"dimensions": 6, "metric": "dot-product"})
        env.vectorize.create_metadata_index(env.account_id, "docs", "parity", "string")
        index = env.VECTORIZE("docs")
        vectors = make_vectors(50, 6, namespaces=["x", "y"])
        vectors[0]["values"] = np.asarray(vectors[0]["values"])  # numpy arrays are fine in Python
        assert "mutationId" in index.insert(vectors)
        described = index.describe()
        assert described["vectorCount"] == 50 and described["dimensions"] == 6
        q = vectors[3]["values"]
        plain = [dict(v, values=list(np.asarray(v["values"], dtype=float))) for v in vectors]
        res = index.query(np.asarray(q), {"topK": 5, "filter": {"parity": "odd"}, "returnMetadata": "indexed"})
        want = oracle(plain, q, "dot-product", 5, lambda v: v["metadata"]["parity"] == "odd")
        assert [m["id"] for m in res["matches"]] == [w[0] for w in want]
        assert all(m["metadata"] == {"parity": "odd"} for m in res["matches"])
        res = index.queryById("v4", {"topK": 3, "namespace": "x"})
        assert all(m["namespace"] == "x" for m in res["matches"])
        assert [v["id"] for v in index.getByIds(["v1", "v2"])] == ["v1", "v2"]
        index.deleteByIds(["v1"])
        assert index.get_by_ids(["v1"]) == []
        with pytest.raises(InvalidRequest):
            index.query(q, {"topk": 5})  # a typo in an option name is an error, not ignored
        with pytest.raises(InvalidRequest):
            index.upsert([{"id": "a", "values": [0.0] * 6}] * 1001)
        with pytest.raises(NotFound):
            env.VECTORIZE("nope").describe()
    # state is on disk: a second Env sees it
    with kumo.Env(data_dir=tmp_path, **backend_settings) as env:
        assert env.VECTORIZE("docs").describe()["vectorCount"] == 49
