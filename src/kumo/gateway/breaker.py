"""Circuit breakers: after `failures` failures in a row a step is skipped for `cooldown` seconds while a fallback
step can answer instead; then one request is let through (half-open) and its outcome closes the circuit again or
opens it for another cooldown. It heals by itself.

A step passes two circuits (`StepCircuits`): its provider's, per (account, gateway, provider, model), opened by what
is the provider's fault (5xx, no answer, a broken stream); and its credential's, the same key plus a digest of the
credential the caller sent, opened by the provider refusing that credential (401, 403, 429). So one caller with a
bad or exhausted key skips the step only for itself, never for every caller of the gateway.

The state is this process's (owned by the gateway pipeline): each node of a cluster learns on its own, which
costs each node `failures` requests to a provider that is down."""

from __future__ import annotations

import hashlib
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
        if not self.would_allow(key):
            return False
        circuit = self._circuits.get(key)
        if circuit is not None and circuit.open_until and self.threshold > 0:
            # a probe that never reports back frees the circuit later
            circuit.probing_until = self.clock() + self.cooldown
        return True

    def would_allow(self, key: Hashable) -> bool:
        """`allows` without taking the half-open probe: asked first when another circuit must agree too."""
        circuit = self._circuits.get(key)
        if circuit is None or not circuit.open_until or self.threshold <= 0:
            return True
        now = self.clock()
        return not (now < circuit.open_until or now < circuit.probing_until)

    def state(self, key: Hashable) -> str:
        circuit = self._circuits.get(key)
        if circuit is None or not circuit.open_until:
            return "closed"
        return "open" if self.clock() < circuit.open_until else "half-open"

    def release(self, key: Hashable) -> None:
        """Give the half-open probe back unspent: its outcome said nothing of this circuit."""
        circuit = self._circuits.get(key)
        if circuit is not None:
            circuit.probing_until = 0.0

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


# the provider refused the credential the caller sent (bad, forbidden, out of quota): that caller's circuit only
CREDENTIAL_REFUSALS = frozenset({401, 403, 429})


@dataclass(frozen=True, slots=True)
class StepKey:
    account: str
    gateway: str
    provider: str
    model: str
    credential: str  # credential_digest(): never the credential itself

    @property
    def provider_key(self) -> tuple[str, str, str, str]:
        return (self.account, self.gateway, self.provider, self.model)


def credential_digest(parts: list[str]) -> str:
    """A SHA-256 of what picks the credential a call goes upstream with (the caller's key headers, `?key=`, its
    gateway token, a BYOK alias): callers with different keys never share a credential circuit, and no key is
    kept in memory longer than its request."""
    digest = hashlib.sha256()
    for part in parts:  # length-prefixed: ("ab", "c") and ("a", "bc") differ
        data = part.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


class StepCircuits:
    """The provider circuit and the credential circuit of a step, with one threshold and cooldown."""

    def __init__(self, failures: int = 5, cooldown: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.threshold = failures
        self.provider = CircuitBreaker(failures, cooldown, clock)
        self.credential = CircuitBreaker(failures, cooldown, clock)

    def open_one(self, key: StepKey) -> str | None:
        """None when the step may be tried now (taking a half-open probe of each circuit that has one), else
        which circuit is open: "provider" or "credential"."""
        if not self.provider.would_allow(key.provider_key):
            return "provider"
        if not self.credential.would_allow(key):
            return "credential"
        self.provider.allows(key.provider_key)
        self.credential.allows(key)
        return None

    def record(self, key: StepKey, success: bool, status: int, fault: bool | None) -> None:
        """Count one outcome. `fault`: the failure is the provider's (True), surely not (False), or judged by the
        status (None): 5xx is the provider's, 401/403/429 the credential's; other statuses (a 400 for a bad
        request) say nothing of either."""
        if success:
            self.provider.record(key.provider_key, True)
            self.credential.record(key, True)
        elif fault or (fault is None and status >= 500):
            self.provider.record(key.provider_key, False)
            self.credential.release(key)
        elif fault is None and status in CREDENTIAL_REFUSALS:
            self.credential.record(key, False)
            self.provider.release(key.provider_key)  # the provider answered: another caller may probe it now
        else:
            self.provider.release(key.provider_key)
            self.credential.release(key)
