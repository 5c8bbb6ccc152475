"""Batches of log lines, pushed off the hot path. The log writer's thread hands over the records it has just
stored; those of gateways with `logpush` on become lines (sealed to the gateway's key) appended to a spool file per
account, fsync'ed, so a kill -9 loses nothing already handed over. Every `interval` seconds (sooner when a spool
reaches MAX_BATCH_BYTES) each spool is sealed into a batch and pushed gzipped; a batch that could not be pushed
stays on disk and is tried again, also by the next process on the same data dir. When the destination stays
away long enough for the spool to pass its bound, the oldest batches are dropped and the log says how many
records went."""

from __future__ import annotations

import gzip
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from kumo.gateway.logpush.destination import Destination
from kumo.gateway.logpush.encryption import load_public_key
from kumo.gateway.logpush.records import line
from kumo.gateway.store import LogRecord
from kumo.timestamps import parse_iso

log = logging.getLogger("kumo.gateway.logpush")
MAX_BATCH_BYTES = 5_000_000  # Logpush's default max_upload_bytes (before compression)
MAX_SPOOL_BYTES = 1024 * 1024 * 1024
OPEN, BATCH = ".open", ".batch"


class LogPusher:
    def __init__(self, destination: Destination, spool_dir: Path,
                 settings: Callable[[str, str], dict[str, Any] | None], *, interval: float = 30.0,
                 max_spool_bytes: int = MAX_SPOOL_BYTES):
        self.destination = destination
        self.spool_dir = spool_dir
        self.settings = settings  # a gateway's settings, or None when it is gone
        self.interval = interval
        self.max_spool_bytes = max_spool_bytes
        spool_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(spool_dir, 0o700)  # lines of gateways without a key hold bodies in the clear, as the logs do
        self._lock = threading.Lock()
        self._open: dict[str, tuple[BinaryIO, Path]] = {}  # account -> its spool being appended to
        self._keys: dict[str, RSAPublicKey] = {}
        for left in spool_dir.glob("*" + OPEN):  # a previous process's spools: push them as they are
            left.rename(left.with_name(f"{left.stem}.{time.time_ns()}{BATCH}"))
        self._wake = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="kumo-gateway-logpush", daemon=True)
        self._thread.start()

    # ---- the log writer's thread ----------------------------------------------------------------------------
    def add(self, records: list[LogRecord]) -> None:
        by_account: dict[str, list[bytes]] = {}
        for record in records:
            gateway = self._gateway(record.account, record.gateway)
            if gateway is None or not gateway.get("logpush"):
                continue
            try:
                key = self._key(gateway.get("logpush_public_key"))
                by_account.setdefault(record.account, []).append(line(record, key))
            except Exception:
                log.exception("could not prepare a gateway log for Logpush")
        full = False
        with self._lock:
            for account, lines in by_account.items():
                spool, path = self._spool(account)
                spool.write(b"".join(lines))
                spool.flush()
                os.fsync(spool.fileno())
                full = full or spool.tell() >= MAX_BATCH_BYTES
        if full:
            self._wake.set()

    def _gateway(self, account: str, gateway: str) -> dict[str, Any] | None:
        try:
            return self.settings(account, gateway)
        except Exception:  # deleted meanwhile, or its settings out of reach: the row stays in the logs
            return None

    def _key(self, pem: str | None) -> RSAPublicKey | None:
        if not pem:
            return None
        key = self._keys.get(pem)
        if key is None:
            if len(self._keys) > 1000:
                self._keys.clear()
            key = self._keys[pem] = load_public_key(pem)
        return key

    def _spool(self, account: str) -> tuple[BinaryIO, Path]:
        if account not in self._open:
            path = self.spool_dir / (account.encode().hex() + OPEN)
            self._open[account] = (open(path, "ab"), path)
        return self._open[account]

    # ---- the pusher's thread --------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            closing = self._closing
            try:
                self._seal()
                self._push()
            except Exception:  # a disk error: the next round tries again
                log.exception("Logpush round failed")
            if closing:
                left = list(self.spool_dir.glob("*" + BATCH))
                if left:
                    log.warning("shutting down with %d Logpush batches not pushed to %s: kept in %s, pushed at the "
                                "next start", len(left), self.destination.describe(), self.spool_dir)
                return

    def _seal(self) -> None:
        # under the lock: a writer that came between the swap and the rename would reopen the old path and its
        # lines would follow the renamed file into a batch already pushed and deleted
        with self._lock:
            sealed, self._open = self._open, {}
            for spool, path in sealed.values():
                spool.close()
                path.rename(path.with_name(f"{path.stem}.{time.time_ns()}{BATCH}"))

    def _push(self) -> None:
        """Each account's batches in order; an account whose batch failed waits for the next round (others go on)."""
        batches = sorted(self.spool_dir.glob("*" + BATCH), key=lambda p: int(p.name.split(".")[1]))
        failed: set[str] = set()
        for path in batches:
            account = bytes.fromhex(path.name.split(".")[0]).decode()
            if account in failed:
                continue
            try:
                raw = path.read_bytes()
                if raw:
                    first, last = _span(raw)
                    self.destination.push(account, first, last, gzip.compress(raw, 6))
            except Exception as exc:
                failed.add(account)
                log.warning("Logpush of a batch to %s failed (%s): it waits in %s", self.destination.describe(),
                            type(exc).__name__, self.spool_dir)
                continue
            path.unlink()
        if failed:
            self._trim(sorted(self.spool_dir.glob("*" + BATCH), key=lambda p: int(p.name.split(".")[1])))

    def _trim(self, waiting: list[Path]) -> None:
        total = sum(p.stat().st_size for p in waiting)
        dropped = 0
        while waiting and total > self.max_spool_bytes:
            oldest = waiting.pop(0)
            raw = oldest.read_bytes()
            total -= len(raw)
            dropped += raw.count(b"\n")
            oldest.unlink()
        if dropped:
            log.error("Logpush spool over %d bytes with %s unreachable: dropped the %d oldest log records",
                      self.max_spool_bytes, self.destination.describe(), dropped)

    def close(self) -> None:
        self._closing = True
        self._wake.set()
        self._thread.join(timeout=60)


def _span(raw: bytes) -> tuple[datetime, datetime]:
    """The times of a batch's first and last record (the object's name carries them)."""
    lines = raw.rstrip(b"\n").split(b"\n")
    return _when(lines[0]), _when(lines[-1])


def _when(raw_line: bytes) -> datetime:
    try:
        return parse_iso(json.loads(raw_line)["Datetime"])
    except (ValueError, KeyError, TypeError):
        return datetime.now(timezone.utc)
