"""The in-memory search structure against numpy, including the HNSW path and its exact tail."""

from __future__ import annotations

import numpy as np
import pytest

from kumo.vectorize.filters import MetadataFilter
from kumo.vectorize.space import AnnParams, VectorSpace


def exact(x: np.ndarray, q: np.ndarray, k: int) -> list[int]:
    scores = x @ q / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))
    return np.argsort(-scores, kind="stable")[:k].tolist()


@pytest.fixture
def clustered():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(30, 24))
    x = (centres[rng.integers(0, 30, 4000)] + 0.2 * rng.normal(size=(4000, 24))).astype(np.float32)
    return x, rng


def test_ann_with_unindexed_tail_and_deletes(clustered):
    x, rng = clustered
    space = VectorSpace(24, "cosine", AnnParams(threshold=1000))
    ids = [f"i{i}" for i in range(len(x))]
    space.put(ids[:3000], x[:3000], [None] * 3000, [None] * 3000)
    while space.ann_step(500):
        pass
    assert space.hnsw is not None and space.ann_upto == 3000
    space.put(ids[3000:], x[3000:], [None] * 1000, [None] * 1000)  # not in the graph yet
    assert space.ann_pending == 1000
    hits = total = 0
    for _ in range(30):
        q = x[rng.integers(0, len(x))] + 0.05 * rng.normal(size=24).astype(np.float32)
        got = [m.slot for m in space.query(q.astype(np.float32), 10)]
        want = exact(x, q, 10)
        hits += len(set(got) & set(want))
        total += 10
    assert hits / total >= 0.95
    # the newest vectors are found exactly even though the graph has not seen them
    q = x[3500]
    assert space.query(q, 1)[0].slot == 3500
    space.remove(["i3500", "i10"])
    assert all(m.slot not in (3500, 10) for m in space.query(x[3500], 20))
    assert all(m.slot != 10 for m in space.query(x[10], 20))


def test_upsert_moves_slot_and_filters_stay_exact():
    space = VectorSpace(3, "euclidean")
    space.add_column("g", "string")
    space.put(["a", "b"], np.eye(3, dtype=np.float32)[:2], [None, "n"], [{"g": "x"}, {"g": "y"}])
    space.put(["a"], np.array([[0, 0, 1]], dtype=np.float32), [None], [{"g": "y"}])
    assert space.count == 2 and space.slot_of["a"] == 2
    flt = MetadataFilter.parse({"g": "y"})
    got = space.query(np.array([0, 0, 1], dtype=np.float32), 5, metadata_filter=flt)
    assert [space.ids[m.slot] for m in got] == ["a", "b"]
    assert got[0].score == 0.0 and got[1].score == pytest.approx(np.sqrt(2))
    assert space.query(np.array([0, 0, 1], dtype=np.float32), 5, namespace="n")[0].slot == 1
    assert space.query(np.array([0, 0, 1], dtype=np.float32), 5, namespace="other") == []


def test_zero_vector_cosine_scores_zero():
    space = VectorSpace(2, "cosine")
    space.put(["z", "a"], np.array([[0, 0], [1, 0]], dtype=np.float32), [None, None], [None, None])
    got = space.query(np.array([1, 0], dtype=np.float32), 2)
    assert [(space.ids[m.slot], m.score) for m in got] == [("a", 1.0), ("z", 0.0)]


def test_queries_search_the_graph_together_while_it_grows(clustered):
    """Queries share the graph (two at once) while the builder adds to it and a writer deletes: no error,
    and every answer holds only live vectors in exact score order."""
    import threading

    x, rng = clustered
    space = VectorSpace(24, "cosine", AnnParams(threshold=500))
    ids = [f"i{i}" for i in range(len(x))]
    space.put(ids, x, [None] * len(x), [None] * len(x))
    space.ann_step(600)
    errors: list = []
    stop = threading.Event()

    def build() -> None:  # as the embedded engine's builder: the index's lock around prepare and commit only
        while not stop.is_set():
            with lock:
                batch = space.ann_prepare(64)
            if batch is None:
                return
            space.ann_add(batch, threads=2)
            with lock:
                space.ann_commit(batch)

    def search(seed: int) -> None:
        local = np.random.default_rng(seed)
        try:
            for _ in range(200):
                q = x[local.integers(0, len(x))]
                with lock.shared():
                    found = space.query(q, 10)
                    assert all(space.alive[m.slot] for m in found)
                scores = [m.score for m in found]
                assert scores == sorted(scores, reverse=True) and len(found) == 10
        except Exception as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    from kumo.vectorize.rwlock import SharedLock

    lock = SharedLock()
    threads = [threading.Thread(target=build)] + [threading.Thread(target=search, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for i in range(0, 400, 40):
        with lock:
            space.remove(ids[i : i + 40])
    for t in threads[1:]:
        t.join()
    stop.set()
    threads[0].join()
    assert not errors, errors[:3]
    assert space.graph_progress is not None


def test_string_columns_compare_codes():
    space = VectorSpace(2, "euclidean")
    space.add_column("tag", "string")
    vals = np.eye(2, dtype=np.float32)[[0, 1, 0, 1]]
    space.put(["a", "b", "c", "d"], vals, [None] * 4, [{"tag": "x"}, {"tag": "y"}, {"tag": "x"}, {"tag": 5}])
    q = np.array([1, 0], dtype=np.float32)

    def ids(raw) -> list[str]:
        return sorted(space.ids[m.slot] for m in space.query(q, 10, metadata_filter=MetadataFilter.parse(raw)))

    assert ids({"tag": "x"}) == ["a", "c"]
    assert ids({"tag": {"$in": ["y", "zz"]}}) == ["b"]
    assert ids({"tag": {"$ne": "x"}}) == ["b", "d"]
    assert ids({"tag": "zz"}) == []
    space.put(["c"], vals[:1], [None], [{"tag": "y"}])  # an upsert moves c to a new slot with a new value
    space.remove(["b"])
    assert ids({"tag": "x"}) == ["a"] and ids({"tag": "y"}) == ["c"]
    assert ids({"tag": {"$gte": "x"}}) == ["a", "c"]  # ranges still compare the strings


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot-product"])
def test_wide_filter_answers_stay_exact_from_its_copy_and_after_writes(metric):
    """A filter passing half the vectors is answered from a contiguous copy of its rows once seen twice (split
    over a two-thread scan here): every answer equals numpy's exact filtered top-10, also after an upsert,
    a delete and a new metadata index have moved the space on."""
    from concurrent.futures import ThreadPoolExecutor

    from kumo.vectorize import space as space_module

    rng = np.random.default_rng(7)
    n, d = 6000, 16
    x = rng.normal(size=(n, d)).astype(np.float32)
    halves = rng.integers(0, 2, n)
    with ThreadPoolExecutor(1) as pool:
        space = VectorSpace(d, metric, AnnParams(threshold=10**9), scan_pool=pool, scan_parts=2)
        space.add_column("half", "string")
        ids = [f"v{i}" for i in range(n)]
        space.put(ids, x, [None] * n, [{"half": "ab"[h]} for h in halves])

        def want(q: np.ndarray, h: int) -> list[str]:
            if metric == "cosine":
                keys = -(x.astype(np.float64) @ q) / np.linalg.norm(x.astype(np.float64), axis=1)
            elif metric == "euclidean":
                keys = np.linalg.norm(x.astype(np.float64) - q, axis=1)
            else:
                keys = -(x.astype(np.float64) @ q)
            keys[halves != h] = np.inf
            keys[[space.slot_of.get(i) is None for i in ids]] = np.inf
            return [ids[i] for i in np.argsort(keys, kind="stable")[:10]]

        def check(rounds: int) -> None:
            for _ in range(rounds):
                h = int(rng.integers(0, 2))
                q = rng.normal(size=d).astype(np.float32)
                got = space.query(q, 10, metadata_filter=MetadataFilter.parse({"half": "ab"[h]}))
                assert [space.ids[m.slot] for m in got] == want(q.astype(np.float64), h)

        original = space_module._SPLIT_FLOATS
        space_module._SPLIT_FLOATS = 1000  # small enough that these scans are split
        try:
            check(12)
            assert space._subsets.rows_held == n  # both halves copied, within the budget of one matrix
            x[5] = rng.normal(size=d)  # an upsert moves v5 to a new slot with a new value and the other half
            halves[5] = 1 - halves[5]
            ids.append(ids[5])
            x = np.vstack([x, x[5:6]])
            halves = np.append(halves, halves[5])
            ids[5] = "gone"
            space.put(["v5"], x[-1:], [None], [{"half": "ab"[halves[-1]]}])
            assert space._subsets.rows_held == 0
            check(6)
            space.remove(["v9"])
            check(6)
            space.add_column("other", "number")
            check(6)
        finally:
            space_module._SPLIT_FLOATS = original
