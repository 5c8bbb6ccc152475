"""The gateway's log writer on a real SQLite store: idle, its thread does not wake; at low load, logs are
gathered into few commits; a full batch, a flush and a close each write at once, without waiting for the timer."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from kumo.gateway import logs
from kumo.gateway.logs import BATCH, LogWriter, new_ulid
from kumo.gateway.store import LogRecord
from kumo.storage.sql_gateway import SqlGatewayStore
from kumo.storage.sqlite import SqliteDatabase


class Entry:
    def __init__(self):
        self.id = new_ulid()

    def settle(self) -> LogRecord:
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return LogRecord(id=self.id, account="a", gateway="g", created_at=now, provider="openai", model="m",
                         path="chat/completions", status_code=200, success=True, cached=False, duration=5)


class Counting(SqlGatewayStore):
    """The real store, counting its commits."""

    def __init__(self, db):
        super().__init__(db)
        self.commits = 0

    def write_logs(self, records, limits):
        super().write_logs(records, limits)
        self.commits += 1


class Watched(LogWriter):
    """Counts how often the thread wakes to drain the queue."""

    drains = 0

    def _drain(self) -> None:
        self.drains += 1
        super()._drain()


@pytest.fixture
def store(tmp_path):
    s = Counting(SqliteDatabase(tmp_path / "g.sqlite3", branch="gateway"))
    yield s
    s.close()


def stored(store) -> int:
    with store.db.reading() as conn:
        return conn.execute("SELECT count(*) FROM gateway_logs").fetchone()[0]


def test_idle_writer_does_not_wake_and_low_load_is_gathered(store):
    writer = Watched(store, lambda a, g: None)
    try:
        time.sleep(0.6)
        assert writer.drains == 0  # (woken every 0.1 s, it drained 6 times for nothing)
        for _ in range(20):  # ~40 requests a second
            writer.write(Entry())
            time.sleep(0.025)
        deadline = time.monotonic() + 10
        while stored(store) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stored(store) == 20  # written without a flush, by the timer
        assert store.commits <= 3  # half a second of logs in one or two commits, not one per 0.1 s
        drains = writer.drains
        time.sleep(logs.FLUSH_EVERY + 0.5)
        assert writer.drains <= drains + 1  # idle again: at most the gathering that was under way
    finally:
        writer.close()


def test_full_batch_flush_and_close_write_at_once(store, monkeypatch):
    monkeypatch.setattr(logs, "FLUSH_EVERY", 60.0)  # the timer alone would write nothing within the test
    writer = LogWriter(store, lambda a, g: None)
    try:
        for _ in range(BATCH):
            writer.write(Entry())
        deadline = time.monotonic() + 20
        while stored(store) < BATCH and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stored(store) == BATCH  # a full batch woke the thread
        writer.write(Entry())
        started = time.monotonic()
        writer.flush(20)
        assert stored(store) == BATCH + 1 and time.monotonic() - started < 20
        writer.write(Entry())
    finally:
        writer.close()
    assert stored(store) == BATCH + 2  # close wrote what was left
