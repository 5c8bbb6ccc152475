"""A circuit breaker per (account, gateway, provider, model): after `failures` failures in a row a step is skipped
for `cooldown` seconds while a fallback step can answer instead; then one request is let through (half-open) and
its outcome closes the circuit again or opens it for another cooldown. It heals by itself.

The state is this process's (owned by the gateway pipeline): each node of a cluster learns on its own, which
costs each node `failures` requests to a provider that is down."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

MAX_CIRCUITS = 10_000  # the least recently used circuits are forgotten (they start closed again)


@dataclass(slots=True)
class _Circuit:
    failures: int = 0
    open_until: float = 0.0  # 0: closed
    probing_until: float = 0.0  # a half-open probe is out until then


class CircuitBreaker:
    def __init__(self, failures: int = 5, cooldown: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.threshold = failures
        self.cooldown = cooldown
        self.clock = clock
        self._circuits: OrderedDict[Hashable, _Circuit] = OrderedDict()

    def allows(self, key: Hashable) -> bool:
        """May a request go to this step now? True in the half-open state for one probe at a time."""
        circuit = self._circuits.get(key)
        if circuit is None or not circuit.open_until or self.threshold <= 0:
            return True
        now = self.clock()
        if now < circuit.open_until or now < circuit.probing_until:
            return False
        circuit.probing_until = now + self.cooldown  # a probe that never reports back frees the circuit later
        return True

    def state(self, key: Hashable) -> str:
        circuit = self._circuits.get(key)
        if circuit is None or not circuit.open_until:
            return "closed"
        return "open" if self.clock() < circuit.open_until else "half-open"

    def record(self, key: Hashable, success: bool) -> None:
        if success:
            self._circuits.pop(key, None)
            return
        circuit = self._circuits.get(key)
        if circuit is None:
            circuit = self._circuits[key] = _Circuit()
            if len(self._circuits) > MAX_CIRCUITS:
                self._circuits.popitem(last=False)
        else:
            self._circuits.move_to_end(key)
        circuit.failures += 1
        if circuit.open_until or circuit.failures >= self.threshold > 0:
            circuit.open_until = self.clock() + self.cooldown  # opened, or a failed probe opens it again
            circuit.probing_until = 0.0
