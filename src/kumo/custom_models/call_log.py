"""The call log: one row per prediction call a version answered, served or as the shadow (time, version, a hash of
the caller key, latency, outcome, prediction, and a shadow's agreement with the served answer), so versions can be
compared over recent traffic. The request path only appends to a deque; a thread writes batches, one transaction
each, and trims each model to its newest `keep` rows, so the log stays bounded however busy the model is."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from kumo.api.batched_writer import BatchedWriter
from kumo.errors import ServiceUnavailable

log = logging.getLogger("kumo.custom_models.call_log")
BATCH = 1000
FLUSH_EVERY = 1.0  # seconds: the longest a call waits to be written (idle, the thread does not wake)
MAX_PENDING = 100_000  # calls waiting to be written (also while the database is away); beyond it new ones are dropped
MAX_PREDICTIONS = 100  # a many-row call keeps its first predictions; `rows` says how many it had


@dataclass(frozen=True)
class Call:
    account: str
    name: str
    version: str
    role: str  # served | shadow
    at: float  # unix seconds
    rows: int
    latency_ms: float | None
    outcome: str  # ok | refused | error
    caller: str | None = None  # caller_hash(...) of the caller key
    paired: str | None = None  # a shadow call: the version that served it
    error: str | None = None
    prediction: str | None = None  # JSON
    agreed: int | None = None  # a shadow call: rows where it predicted what the served version did


def caller_hash(account: str, key: str | None) -> str | None:
    """Caller keys are often user ids: the log keeps a hash, enough to group one caller's calls."""
    if key is None:
        return None
    return hashlib.sha256(f"{account}\0{key}".encode()).hexdigest()[:24]


def prediction_json(predictions: list, many: bool) -> str:
    return json.dumps(predictions[:MAX_PREDICTIONS] if many else predictions[0])


class CallStore(Protocol):
    def write_calls(self, calls: list[Call], trim: list[tuple[str, str]], keep: int) -> None: ...


class CallLog(BatchedWriter[Call]):
    """Calls are appended on the request path (`record`) and written in batches by a thread
    (kumo.api.batched_writer); while the database is away they wait in memory, bounded."""

    def __init__(self, store: CallStore, keep: int):
        self.store = store
        self.keep = keep  # rows per model
        self._since_trim: dict[tuple[str, str], int] = {}  # rows written per model since it was last trimmed
        self._unwritten: list[Call] = []  # the database was unreachable: written with the next batch
        super().__init__(batch=BATCH, flush_every=FLUSH_EVERY, max_pending=MAX_PENDING,
                         name="kumo-custom-model-calls", what="custom model calls")

    def record(self, call: Call) -> None:
        self.put(call)

    def _backlog(self) -> int:
        return len(self._unwritten)

    def _write_batch(self, batch: list[Call]) -> None:
        calls = self._unwritten + batch
        self._unwritten = []
        if not self._write(calls):
            self._unwritten = calls[-MAX_PENDING:]

    def _write(self, batch: list[Call]) -> bool:
        """False if the database is unreachable (the batch is kept for later)."""
        if not batch:
            return True
        # trimming costs an index scan of `keep` rows: do it once a model has grown by a tenth of that
        step = max(1, self.keep // 10)
        for call in batch:
            key = (call.account, call.name)
            self._since_trim[key] = self._since_trim.get(key, step) + 1
        trim = [key for key, n in self._since_trim.items() if n >= step]
        try:
            self.store.write_calls(batch, trim, self.keep)
        except ServiceUnavailable:
            log.warning("database unreachable: %d custom model calls wait in memory", len(batch))
            return False
        except Exception:
            log.exception("could not write %d custom model calls", len(batch))
            return True
        for key in trim:
            self._since_trim[key] = 0
        if len(self._since_trim) > 10_000:  # models seen once long ago need no counter
            self._since_trim = {k: n for k, n in self._since_trim.items() if n}
        return True
