"""Cloudflare's score conventions, computed in float64: cosine similarity (higher is better), euclidean
distance and negated dot product (lower is better). Every engine ranks its final candidates with these,
so embedded and pgvector answers agree to the last bit."""

from __future__ import annotations

import numpy as np


def exact_scores(rows: np.ndarray, vector: np.ndarray, metric: str) -> np.ndarray:
    rows = rows.astype(np.float64)
    q = vector.astype(np.float64)
    if metric == "euclidean":
        return np.sqrt(((rows - q) ** 2).sum(axis=1))
    dots = rows @ q
    if metric == "dot-product":
        return -dots
    denom = np.sqrt(np.square(rows, out=rows).sum(axis=1) * float(q @ q))  # rows is our own copy: squared in place
    return dots / np.where(denom > 0, denom, np.inf)  # a zero vector scores 0


def best_first(scores: np.ndarray, metric: str, tiebreak: np.ndarray) -> np.ndarray:
    """Positions ordered best score first; equal scores by `tiebreak` (older first)."""
    return np.lexsort((tiebreak, -scores if metric == "cosine" else scores))
