"""Gateway analytics kept as rollups: per (minute | hour, provider, model) counts, tokens, cost and a latency
histogram, added to as logs are written. Charts over 30 days read a few hundred rows instead of every log,
and analytics outlive log retention and deleted logs, as Cloudflare's do.

Latency percentiles come from the histogram: exact to the bucket, interpolated inside it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# upper bounds (ms) of the latency buckets; one more bucket holds everything slower
LATENCY_BOUNDS = (10, 25, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10000, 20000, 30000,
                  60000, 120000)
HISTOGRAM_COLUMNS = tuple(f"h{i:02d}" for i in range(len(LATENCY_BOUNDS) + 1))
GRAINS = {"minute": 16, "hour": 13}  # a bucket is this many leading characters of an ISO-8601 UTC time


def latency_bucket(duration_ms: int) -> int:
    for i, bound in enumerate(LATENCY_BOUNDS):
        if duration_ms <= bound:
            return i
    return len(LATENCY_BOUNDS)


@dataclass
class Rollup:
    requests: int = 0
    errors: int = 0
    cached: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    duration_sum: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * len(HISTOGRAM_COLUMNS))

    def add(self, other: Rollup) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.cached += other.cached
        self.tokens_in += other.tokens_in
        self.tokens_out += other.tokens_out
        self.cost += other.cost
        self.duration_sum += other.duration_sum
        mine = self.histogram
        for i, count in enumerate(other.histogram):
            if count:
                mine[i] += count

    def percentile(self, q: float) -> float | None:
        """The q-th quantile (0..1) of latency in ms, None without requests."""
        total = sum(self.histogram)
        if not total:
            return None
        rank = q * total
        seen = 0
        for i, count in enumerate(self.histogram):
            if count and seen + count >= rank:
                low = LATENCY_BOUNDS[i - 1] if i else 0
                high = LATENCY_BOUNDS[i] if i < len(LATENCY_BOUNDS) else LATENCY_BOUNDS[-1]
                return low + (high - low) * max(rank - seen, 0) / count
            seen += count
        return float(LATENCY_BOUNDS[-1])

    @property
    def cache_hit_rate(self) -> float:
        return self.cached / self.requests if self.requests else 0.0


def rollup_rows(records: Iterable) -> list[tuple]:
    """Log records -> one row per (grain, bucket, account, gateway, provider, model) to add to the table."""
    groups: dict[tuple, Rollup] = {}
    for r in records:
        for grain, width in GRAINS.items():
            key = (r.account, r.gateway, grain, r.created_at[:width], r.provider, r.model)
            g = groups.get(key)
            if g is None:
                g = groups[key] = Rollup()
            g.requests += 1
            g.errors += 0 if r.success else 1
            g.cached += 1 if r.cached else 0
            g.tokens_in += r.tokens_in or 0
            g.tokens_out += r.tokens_out or 0
            g.cost += r.cost or 0.0
            g.duration_sum += r.duration
            g.histogram[latency_bucket(r.duration)] += 1
    return [(*key, g.requests, g.errors, g.cached, g.tokens_in, g.tokens_out, g.cost, g.duration_sum, *g.histogram)
            for key, g in groups.items()]


ROLLUP_COLUMNS: Sequence[str] = ("account", "gateway", "grain", "bucket", "provider", "model", "requests", "errors",
                                 "cached", "tokens_in", "tokens_out", "cost", "duration_sum", *HISTOGRAM_COLUMNS)
ADDED_COLUMNS: Sequence[str] = ROLLUP_COLUMNS[6:]
