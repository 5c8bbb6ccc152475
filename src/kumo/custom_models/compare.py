"""Versions side by side over the call log: per version its calls, error rate and latency percentiles, and for a
pair the agreement of their answers on the calls one shadowed for the other (the only calls both answered)."""

from __future__ import annotations

import math
from typing import Any


def percentile(values: list[float], q: float) -> float | None:
    """Nearest rank: the value at or below which `q` of them lie."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def version_stats(calls: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = [c["latency_ms"] for c in calls if c["latency_ms"] is not None and c["outcome"] == "ok"]
    failed = sum(1 for c in calls if c["outcome"] != "ok")
    return {"calls": len(calls), "served_calls": sum(1 for c in calls if c["role"] == "served"),
            "shadow_calls": sum(1 for c in calls if c["role"] == "shadow"), "rows": sum(c["rows"] for c in calls),
            "errors": sum(1 for c in calls if c["outcome"] == "error"),
            "refused": sum(1 for c in calls if c["outcome"] == "refused"),
            "error_rate": failed / len(calls) if calls else None,
            "p50_latency_ms": percentile(latencies, 0.50), "p99_latency_ms": percentile(latencies, 0.99)}


def agreement(calls: list[dict[str, Any]], a: str, b: str) -> dict[str, Any]:
    """How often a and b predicted the same, over the rows of calls one of them shadowed for the other."""
    paired = [c for c in calls if c["role"] == "shadow" and c["outcome"] == "ok"
              and {c["version"], c["served_version"]} == {a, b}]
    rows = sum(c["rows"] for c in paired)
    agreed = sum(c["agreed"] or 0 for c in paired)
    return {"calls": len(paired), "rows": rows, "agreed": agreed, "rate": agreed / rows if rows else None}


def compare(calls: list[dict[str, Any]], a: str, b: str) -> dict[str, Any]:
    return {"versions": {v: version_stats([c for c in calls if c["version"] == v]) for v in (a, b)},
            "agreement": agreement(calls, a, b)}
