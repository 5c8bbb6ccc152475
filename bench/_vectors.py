"""What the Vectorize benchmarks share: clustered unit vectors as real embeddings fall, the exact top-k they are
judged against, recall, and query loops timed fairly on a shared machine (bench/vectorize_query.py,
vectorize_filtered.py, vectorize_http.py, vectorize_pgvector.py)."""

from __future__ import annotations

import time

import numpy as np

TOP_K = 10


def pct_ms(latencies: np.ndarray, q: float) -> float:
    return float(np.percentile(latencies, q) * 1000)


# ---- data -----------------------------------------------------------------------------------
def unit_centres(rng: np.random.Generator, clusters: int, dims: int) -> np.ndarray:
    c = rng.standard_normal((clusters, dims), dtype=np.float32)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    return c


def clustered(rng: np.random.Generator, centres: np.ndarray, count: int, noise: float, chunk: int = 50_000):
    """`count` unit vectors, each a random centre plus gaussian noise of expected norm `noise`."""
    dims = centres.shape[1]
    out = np.empty((count, dims), dtype=np.float32)
    scale = np.float32(noise / np.sqrt(dims))
    which = rng.integers(0, len(centres), count)
    for start in range(0, count, chunk):
        stop = min(count, start + chunk)
        block = rng.standard_normal((stop - start, dims), dtype=np.float32)
        block *= scale
        block += centres[which[start:stop]]
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:stop] = block
    return out


def exact_topk(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """True top-k ids by cosine (rows are unit vectors, so by dot product), batched through BLAS."""
    out = np.empty((len(queries), k), dtype=np.int64)
    step = max(1, int(2e7 // max(len(data), 1)))
    for start in range(0, len(queries), step):
        scores = queries[start : start + step] @ data.T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
        out[start : start + step] = np.take_along_axis(part, order, axis=1)
    return out


def recall_at_k(found: list[list[int]], truth: np.ndarray) -> float:
    hits = sum(len(set(f) & set(t.tolist())) for f, t in zip(found, truth))
    return hits / (len(truth) * truth.shape[1])


def timed_loop(fn, inputs) -> tuple[list, np.ndarray, float]:
    """Run fn(x) for each input one at a time; (results, per-query latencies, wall seconds)."""
    for x in inputs[: min(20, len(inputs))]:  # warm-up
        fn(x)
    results, lat = [], np.empty(len(inputs))
    clock = time.perf_counter
    t0 = clock()
    for i, x in enumerate(inputs):
        s = clock()
        results.append(fn(x))
        lat[i] = clock() - s
    return results, lat, clock() - t0


def interleaved(paths: dict, rounds: int, chunk: int = 100) -> dict:
    """Time several query paths fairly on a shared machine: the query set is cut into chunks and the
    paths take turns chunk by chunk (rotating who goes first), `rounds` times over. Returns, per path,
    (results of the first round, all latencies, QPS)."""
    names = list(paths)
    n = len(next(iter(paths.values()))[1])
    lat = {name: np.empty((rounds, n)) for name in names}
    results = {name: [None] * n for name in names}
    clock = time.perf_counter
    for name, (fn, inputs) in paths.items():  # warm-up
        for x in inputs[:20]:
            fn(x)
    turn = 0
    for r in range(rounds):
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            turn += 1
            for name in names[turn % len(names):] + names[: turn % len(names)]:
                fn, inputs = paths[name]
                row = lat[name][r]
                res = results[name]
                for i in range(start, stop):
                    s = clock()
                    out = fn(inputs[i])
                    row[i] = clock() - s
                    if r == 0:
                        res[i] = out
    return {name: (results[name], lat[name].ravel(), lat[name].size / lat[name].sum()) for name in names}
