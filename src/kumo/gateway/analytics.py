"""A gateway's analytics over a window (1 h, 24 h, 7 d, 30 d), read from its rollups: totals, a time line of
buckets (empty ones included, so the x axis is time) and a breakdown by provider and model."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from kumo.errors import InvalidRequest
from kumo.gateway.rollups import Rollup

# window -> (span, rollup grain read, buckets shown are days)
WINDOWS = {
    "1h": (timedelta(hours=1), "minute", False),
    "24h": (timedelta(hours=24), "hour", False),
    "7d": (timedelta(days=7), "hour", False),
    "30d": (timedelta(days=30), "hour", True),
}
_STEP = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
_LABEL = {"minute": "%Y-%m-%dT%H:%M", "hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d"}


@dataclass
class Analytics:
    window: str
    buckets: list[str]  # labels, oldest first
    total: Rollup
    by_bucket: dict[str, list[Rollup]]  # provider -> one Rollup per bucket, in `buckets` order
    by_model: dict[tuple[str, str], Rollup] = field(default_factory=dict)  # (provider, model) -> totals
    per_bucket: list[Rollup] = field(default_factory=list)  # all providers, one per bucket


def timeline(start: datetime, end: datetime, unit: str) -> list[str]:
    labels, t, step, fmt = [], start, _STEP[unit], _LABEL[unit]
    while t <= end:
        labels.append(t.strftime(fmt))
        t += step
    return list(dict.fromkeys(labels))


def gateway_analytics(store, account: str, gateway_id: str, window: str, now: datetime | None = None) -> Analytics:
    if window not in WINDOWS:
        raise InvalidRequest(f"`window` must be one of {', '.join(WINDOWS)}")
    span, grain, daily = WINDOWS[window]
    now = now or datetime.now(timezone.utc)
    start = now - span
    unit = "day" if daily else grain
    buckets = timeline(start, now, unit)
    since = start.strftime(_LABEL[grain])
    rows = store.rollups(account, gateway_id, grain, since, group_by_day=daily)
    position = {b: i for i, b in enumerate(buckets)}
    by_bucket: dict[str, list[Rollup]] = defaultdict(lambda: [Rollup() for _ in buckets])
    by_model: dict[tuple[str, str], Rollup] = defaultdict(Rollup)
    for bucket, provider, model, rollup in rows:
        i = position.get(bucket)
        if i is None:
            continue
        by_bucket[provider][i].add(rollup)
        by_model[(provider, model)].add(rollup)
    per_bucket = [Rollup() for _ in buckets]
    for series in by_bucket.values():
        for i, rollup in enumerate(series):
            if rollup.requests:
                per_bucket[i].add(rollup)
    total = Rollup()
    for rollup in by_model.values():
        total.add(rollup)
    return Analytics(window, buckets, total, dict(by_bucket), dict(by_model), per_bucket)
