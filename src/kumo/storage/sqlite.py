"""Opening a SQLite database the way kumo needs it: WAL, fsync on commit, one writer at a time.

`synchronous=FULL` makes every acknowledged commit durable across `kill -9` and power loss; WAL keeps
readers from blocking the writer. Each store owns one connection guarded by a lock, which is simpler
than a pool and fast enough: SQLite serialises writers anyway. The schema comes from the store's alembic
branch (`kumo.storage.migrate`), applied when the file is opened.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


class SqliteDatabase:
    dialect = "sqlite"

    def __init__(self, path: Path, migrations: Sequence[str] = (), synchronous: str = "FULL",
                 branch: str | None = None):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        if branch is not None:
            from kumo.storage.migrate import upgrade_sqlite

            upgrade_sqlite(path, branch)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={synchronous}")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA busy_timeout=10000")
        self.lock = threading.RLock()
        self._migrate(migrations)

    def _migrate(self, migrations: Sequence[str]) -> None:
        with self.transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(migrations[version:], start=version + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT: all of it lands, or none of it."""
        with self.lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                try:
                    self._conn.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:  # a COMMIT refused (a deferred constraint) leaves it open
                        self._conn.execute("ROLLBACK")
                    raise

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            yield self._conn

    def close(self) -> None:
        with self.lock:
            self._conn.close()
