"""Data and a numpy oracle for Vectorize tests."""

from __future__ import annotations

import json

import numpy as np


def make_vectors(n: int, dims: int, seed: int = 0, namespaces: list[str] | None = None) -> list[dict]:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n, dims)).astype(np.float32)
    out = []
    for i in range(n):
        v = {
            "id": f"v{i}",
            "values": values[i].astype(float).tolist(),
            "metadata": {"n": i, "parity": "even" if i % 2 == 0 else "odd", "flag": i % 3 == 0,
                         "nested": {"k": i % 5}, "text": f"item {i}"},
        }
        if namespaces:
            v["namespace"] = namespaces[i % len(namespaces)]
        out.append(v)
    return out


def ndjson(vectors: list[dict]) -> str:
    return "\n".join(json.dumps(v) for v in vectors) + "\n"


def oracle(vectors: list[dict], query: list[float], metric: str, k: int, keep=lambda v: True) -> list[tuple[str, float]]:
    """The true top-k (id, score) by Cloudflare's conventions, in float64."""
    chosen = [v for v in vectors if keep(v)]
    if not chosen:
        return []
    m = np.array([v["values"] for v in chosen], dtype=np.float32).astype(np.float64)
    q = np.asarray(query, dtype=np.float32).astype(np.float64)
    if metric == "cosine":
        scores = m @ q / (np.linalg.norm(m, axis=1) * np.linalg.norm(q))
        order = np.argsort(-scores, kind="stable")
    elif metric == "euclidean":
        scores = np.linalg.norm(m - q, axis=1)
        order = np.argsort(scores, kind="stable")
    else:
        scores = -(m @ q)
        order = np.argsort(scores, kind="stable")
    return [(chosen[i]["id"], float(scores[i])) for i in order[:k]]
