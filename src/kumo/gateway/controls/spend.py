"""Spend limits: USD budgets over fixed (calendar-aligned) or sliding windows, scoped by model, provider and
custom-metadata dimensions. Each dimension either matches listed values (`filter`) or gives every distinct value
its own budget (`partition`). Every rule that applies is checked before the request is sent (429, code 2041, when
any is spent); the cost is added when the call completes, from the same usage and prices as the logs. As at
Cloudflare this is eventually consistent: calls already in flight still finish and are counted."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from kumo.gateway.controls.memo import Memo
from kumo.gateway.errors import GatewayError

SPEND_LIMITED = 2041  # HTTP 429
MAX_WINDOW = 366 * 24 * 3600
SWEEP_EVERY = 1000  # adds between two sweeps of expired in-memory counters


class Dimension(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["filter", "partition"]
    values: list[StrictStr | StrictInt | StrictFloat | StrictBool] | None = None


class SpendRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: StrictStr | None = None
    enabled: StrictBool = True
    limit: StrictFloat | StrictInt = Field(gt=0)  # USD
    limitType: Literal["cost"] = "cost"
    window: StrictInt = Field(ge=1, le=MAX_WINDOW)  # seconds
    technique: Literal["fixed", "sliding"] = "fixed"
    model: Dimension | None = None
    provider: Dimension | None = None
    metadata: dict[str, Dimension] | None = None


class SpendLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: StrictBool = True
    rules: list[SpendRule] = Field(default_factory=list, max_length=100)


def validate(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """The setting as stored (pydantic raises what is wrong, naming the field)."""
    if value is None:
        return None
    parsed = SpendLimits.model_validate(value)
    for rule in parsed.rules:
        for name, dim in [("model", rule.model), ("provider", rule.provider), *(rule.metadata or {}).items()]:
            if dim is not None and dim.mode == "filter" and not dim.values:
                raise ValueError(f"spend_limits: the `{name}` filter of a rule needs `values`")
    return parsed.model_dump(exclude_none=True)


@dataclass(frozen=True, slots=True)
class Budget:
    """One counter a call is checked and charged against."""

    key: str
    window: int
    technique: str
    limit: float
    rule: str


def _scope(dim: dict[str, Any] | None, value: Any) -> tuple[bool, str]:
    """(the rule applies, the part of the counter's key this dimension adds)."""
    if dim is None:
        return True, ""
    if value is None:
        return False, ""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if dim["mode"] == "filter":
        wanted = {str(v).lower() if isinstance(v, bool) else str(v) for v in dim.get("values") or ()}
        return text in wanted, ""
    return True, text


def _digest(rule: dict[str, Any], index: int) -> str:
    # the counter follows the rule's scope and window, not its limit: raising a limit keeps what was spent
    shape = {k: rule.get(k) for k in ("id", "window", "technique", "model", "provider", "metadata")}
    shape["index"] = index if rule.get("id") is None else None
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


def _prepared(setting: dict[str, Any]) -> list[tuple[dict[str, Any], str, str]]:
    """The enabled rules with their counter digest and name (worked out once per setting)."""
    return [(rule, _digest(rule, i), rule.get("id") or f"#{i}")
            for i, rule in enumerate(setting.get("rules") or ()) if rule.get("enabled", True)]


_rules = Memo()


def budgets(setting: dict[str, Any] | None, account: str, gateway_id: str, provider: str, model: str | None,
            metadata: dict[str, Any]) -> list[Budget]:
    """The budgets of the rules that apply to a call to `provider`/`model` with this metadata."""
    if not setting or not setting.get("enabled", True):
        return []
    out = []
    for rule, digest, name in _rules.get(setting, _prepared):
        parts = []
        applies = True
        for dim_name, dim, value in [("model", rule.get("model"), model), ("provider", rule.get("provider"), provider),
                                     *((f"metadata.{k}", d, metadata.get(k))
                                       for k, d in (rule.get("metadata") or {}).items())]:
            ok, part = _scope(dim, value)
            if not ok:
                applies = False
                break
            if part:
                parts.append(f"{dim_name}={part}")
        if not applies:
            continue
        scope = hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:24] if parts else "all"
        out.append(Budget(f"{account}/{gateway_id}/{digest}/{scope}", int(rule["window"]),
                          rule.get("technique", "fixed"), float(rule["limit"]), name))
    return out


class SpendCounter(Protocol):
    async def spent(self, budgets: list[Budget]) -> list[float]: ...
    async def add(self, budgets: list[Budget], cost: float) -> None: ...


async def check(counter: SpendCounter, budgets_: list[Budget]) -> None:
    """429 (code 2041) when any budget is spent."""
    if not budgets_:
        return
    for budget, spent in zip(budgets_, await counter.spent(budgets_)):
        if spent >= budget.limit:
            raise GatewayError(429, SPEND_LIMITED,
                               f"Spend limit exceeded: rule {budget.rule} has spent ${spent:.6f} of its "
                               f"${budget.limit:g} over {budget.window} s")


class SlidingLog:
    """A sliding window's calls as (time, cost), with their running total: a check costs what expired since the
    last one, not a sum over every call in the window (a day's window at 10 calls a second is 864k of them)."""

    __slots__ = ("entries", "total")

    def __init__(self) -> None:
        self.entries: deque[tuple[float, float]] = deque()
        self.total = 0.0

    def add(self, at: float, cost: float) -> None:
        self.entries.append((at, cost))
        self.total += cost

    def expire(self, cutoff: float) -> float:
        """Drop the calls at or before `cutoff`; what the rest cost."""
        entries = self.entries
        while entries and entries[0][0] <= cutoff:
            self.total -= entries.popleft()[1]
        if not entries:
            self.total = 0.0  # (no rounding left over from the subtractions)
        return max(self.total, 0.0)


class MemorySpendCounter:
    """One process: fixed windows as (window number, total); sliding windows as a log of (time, cost)."""

    def __init__(self, clock=time.time):
        self._clock = clock
        self._fixed: dict[str, tuple[int, float]] = {}
        self._sliding: dict[str, SlidingLog] = {}
        self._windows: dict[str, int] = {}  # each counter's window length, for the sweep
        self._lock = threading.Lock()
        self._adds = 0

    def _sweep(self, now: float) -> None:
        """Drop counters whose window has passed: one per metadata value ever seen would otherwise stay forever."""
        for key, (window, _) in list(self._fixed.items()):
            if window != int(now // self._windows[key]):
                del self._fixed[key], self._windows[key]
        for key, log in list(self._sliding.items()):
            log.expire(now - self._windows[key])
            if not log.entries:
                del self._sliding[key], self._windows[key]

    def _total(self, b: Budget, now: float) -> float:
        if b.technique == "sliding":
            log = self._sliding.get(b.key)
            return log.expire(now - b.window) if log is not None else 0.0
        window, total = self._fixed.get(b.key, (-1, 0.0))
        return total if window == int(now // b.window) else 0.0

    async def spent(self, budgets_: list[Budget]) -> list[float]:
        now = self._clock()
        with self._lock:
            return [self._total(b, now) for b in budgets_]

    async def add(self, budgets_: list[Budget], cost: float) -> None:
        now = self._clock()
        with self._lock:
            self._adds += 1
            if self._adds % SWEEP_EVERY == 0:
                self._sweep(now)
            for b in budgets_:
                self._windows[b.key] = b.window
                if b.technique == "sliding":
                    self._sliding.setdefault(b.key, SlidingLog()).add(now, cost)
                else:
                    window = int(now // b.window)
                    current, total = self._fixed.get(b.key, (window, 0.0))
                    self._fixed[b.key] = (window, (total if current == window else 0.0) + cost)
