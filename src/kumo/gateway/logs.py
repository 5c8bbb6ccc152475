"""Request logs, written off the hot path: finished calls go into a queue and a background thread turns them
into records and writes them in batches (one transaction per batch; kumo.api.batched_writer gathers them:
idle, its thread does not wake); `close()` flushes what is left."""

from __future__ import annotations

import base64
import logging
import os
import time
from collections.abc import Callable
from typing import Protocol

from kumo.api.batched_writer import BatchedWriter
from kumo.errors import KumoError, ServiceUnavailable
from kumo.gateway.store import GatewayStore, LogRecord

log = logging.getLogger("kumo.gateway.logs")
# base32's alphabet -> Crockford's, so the C base32 encoder writes a ULID (hot path: one per request)
_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ")
BATCH = 500
FLUSH_EVERY = 1.0  # seconds: the longest a log waits to be written (a kill -9 loses at most this much)
MAX_PENDING = 100_000
MAX_UNWRITTEN = 100_000  # log rows kept while the database is unreachable


def new_ulid() -> str:
    """A ULID: 48 bits of milliseconds + 80 random bits, Crockford base32 (sortable by time)."""
    raw = (int(time.time() * 1000) & (1 << 48) - 1).to_bytes(6, "big") + os.urandom(10)
    # 20 bytes are 32 characters of 5 bits; the 4 zero bytes in front are the first 6 and the ULID's 2 zero bits
    return base64.b32encode(b"\0\0\0\0" + raw)[6:].translate(_CROCKFORD).decode()


class Loggable(Protocol):
    def settle(self) -> LogRecord | None: ...


class LogWriter(BatchedWriter[Loggable]):
    """The request path only appends (`write`); the thread settles what is pending (usage, cost, metrics: see
    finished.py) and writes it in batches (kumo.api.batched_writer)."""

    def __init__(self, store: GatewayStore, limits: Callable[[str, str], tuple[int, str] | None],
                 after_write: Callable[[list[LogRecord]], None] | None = None):
        self.store = store
        self.limits = limits
        self.after_write = after_write  # handed the records once stored (Logpush), on this thread
        self._unwritten: list[LogRecord] = []  # settled, but the database was unreachable
        super().__init__(batch=BATCH, flush_every=FLUSH_EVERY, max_pending=MAX_PENDING, name="kumo-gateway-logs",
                         what="gateway logs")

    def write(self, entry: Loggable) -> None:
        self.put(entry)

    def _backlog(self) -> int:
        return len(self._unwritten)

    def _write_batch(self, batch: list[Loggable]) -> None:
        self._write(batch)

    def _write(self, batch: list[Loggable]) -> None:
        records = self._unwritten
        self._unwritten = []
        for entry in batch:
            try:
                record = entry.settle()
            except Exception:
                log.exception("could not build a gateway log")
                continue
            if record is not None:
                records.append(record)
        if not records:
            return
        limits = {}
        for record in records:
            key = (record.account, record.gateway)
            if key not in limits:
                try:
                    limit = self.limits(*key)
                except KumoError:  # the gateway's settings are out of reach: keep the rows, trim later
                    limit = None
                if limit is not None:
                    limits[key] = limit
        try:
            self.store.write_logs(records, limits)
        except ServiceUnavailable:
            # The database is away (scaled out: PostgreSQL). Keep the newest rows in memory, bounded, and
            # write them with the next batch once it answers again.
            self._unwritten = records[-MAX_UNWRITTEN:]
            lost = len(records) - len(self._unwritten)
            log.warning("database unreachable: %d gateway logs wait in memory%s", len(self._unwritten),
                        f", {lost} oldest dropped" if lost else "")
        except Exception:
            log.exception("could not write %d gateway logs", len(records))
        else:
            if self.after_write is not None:
                try:
                    self.after_write(records)
                except Exception:
                    log.exception("could not hand %d gateway logs to Logpush", len(records))
