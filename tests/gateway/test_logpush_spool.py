"""The Logpush spool on its own (no server): batches wait while the destination fails and go once it answers,
in order per account, one account's failures never hold another's back, and past its bound the spool drops the
oldest batches and says how many records went."""

from __future__ import annotations

import gzip
import json
import logging
import time
from datetime import datetime

from kumo.gateway.logpush.pusher import LogPusher
from kumo.gateway.store import LogRecord


class Flaky:
    """A destination that refuses the accounts in `down`."""

    def __init__(self):
        self.down: set[str] = set()
        self.got: dict[str, list[str]] = {}

    def describe(self) -> str:
        return "flaky://test"

    def ready(self, account: str) -> str | None:
        return None

    def push(self, account: str, first: datetime, last: datetime, gzipped: bytes) -> None:
        if account in self.down:
            raise OSError("down")
        lines = gzip.decompress(gzipped).decode().splitlines()
        self.got.setdefault(account, []).extend(json.loads(line)["ID"] for line in lines)


def record(account: str, n: int) -> LogRecord:
    return LogRecord(id=f"{account}-{n}", account=account, gateway="gw", created_at="2026-12-03T10:00:00.000Z",
                     provider="openai", model="m", path="chat/completions", status_code=200, success=True,
                     cached=False, duration=5, request_body=b"x" * 1000)


def settings(account: str, gateway: str) -> dict:
    return {"logpush": account != "off", "logpush_public_key": None}


def wait(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert condition()


def test_waits_in_order_and_accounts_do_not_block_each_other(tmp_path):
    dest = Flaky()
    dest.down.add("a")
    pusher = LogPusher(dest, tmp_path / "spool", settings, interval=0.05)
    try:
        pusher.add([record("a", 0), record("b", 0), record("off", 0)])
        wait(lambda: dest.got.get("b") == ["b-0"])
        pusher.add([record("a", 1)])
        time.sleep(0.2)
        assert "a" not in dest.got and len(list((tmp_path / "spool").glob("*.batch"))) == 2
        dest.down.clear()
        wait(lambda: dest.got.get("a") == ["a-0", "a-1"])
        assert "off" not in dest.got
    finally:
        pusher.close()


def test_a_new_process_pushes_what_the_last_one_left(tmp_path):
    dest = Flaky()
    dest.down.add("a")
    first = LogPusher(dest, tmp_path / "spool", settings, interval=60)  # never a round before close
    first.add([record("a", 0), record("a", 1)])
    first.close()  # a round at close fails: the batch stays
    dest.down.clear()
    second = LogPusher(dest, tmp_path / "spool", settings, interval=0.05)
    try:
        wait(lambda: dest.got.get("a") == ["a-0", "a-1"])
    finally:
        second.close()


def test_over_its_bound_the_spool_drops_the_oldest_and_says_so(tmp_path, caplog):
    dest = Flaky()
    dest.down.add("a")
    pusher = LogPusher(dest, tmp_path / "spool", settings, interval=0.05, max_spool_bytes=2500)
    try:
        with caplog.at_level(logging.ERROR, logger="kumo.gateway.logpush"):
            for n in range(4):
                pusher.add([record("a", n)])
                time.sleep(0.15)  # each its own batch
            wait(lambda: "dropped the" in caplog.text)
        assert "oldest log records" in caplog.text
        dest.down.clear()
        pusher.add([record("a", 4)])
        wait(lambda: dest.got.get("a", [])[-1:] == ["a-4"])
        assert "a-0" not in dest.got["a"]  # the oldest went; the newest came through
    finally:
        pusher.close()
