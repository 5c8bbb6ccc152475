"""Relevance boosting (`boost_by`), as Cloudflare describes it: after retrieval and before reranking, each
candidate's score grows by a bonus from its item's metadata; it reorders the candidates, never adds one.

Bonus per boost, up to BOOST_WEIGHT: `desc`/`asc` place the candidate's value between the lowest and the
highest among the candidates that have the field (the highest gets the whole weight for `desc`, the lowest
for `asc`; a candidate without the field gets nothing); `exists`/`not_exists` give the whole weight to the
candidates that have (lack) the field. Datetimes compare in time order."""

from __future__ import annotations

import math
from typing import Any

BOOST_WEIGHT = 0.25  # per field: enough to order equally relevant chunks, small beside a relevance gap

from kumo.timestamps import parse_iso


def _number(kind: str, value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if kind == "datetime" and isinstance(value, str):
        try:
            return parse_iso(value).timestamp()
        except ValueError:
            return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None  # "inf" or "nan" would make every score NaN


def bonuses(metadatas: list[dict[str, Any]], boosts: list[tuple[str, str, str]]) -> list[float]:
    """The bonus of each candidate (by its item's metadata), for `boosts` of (field, data type, direction)."""
    total = [0.0] * len(metadatas)
    for field, kind, direction in boosts:
        if direction in ("exists", "not_exists"):
            for i, meta in enumerate(metadatas):
                if (meta.get(field) is not None) == (direction == "exists"):
                    total[i] += BOOST_WEIGHT
            continue
        values = [_number("datetime" if field == "timestamp" else kind, m.get(field)) for m in metadatas]
        known = [v for v in values if v is not None]
        if not known:
            continue
        low, high = min(known), max(known)
        for i, value in enumerate(values):
            if value is None:
                continue
            position = 1.0 if high == low else (value - low) / (high - low)
            total[i] += BOOST_WEIGHT * (position if direction == "desc" else 1.0 - position)
    return total
