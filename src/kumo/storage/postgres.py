"""Opening PostgreSQL the way kumo's stores need it: a small connection pool, one transaction per
`with`, and the same `execute(sql, params)` with `?` parameter marks that the SQLite stores use, so a store
is written once for both. PostgreSQL being unreachable is a 503 the client can retry, never a 500.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from kumo.errors import InvalidRequest, ServiceUnavailable

UNAVAILABLE = "PostgreSQL is unreachable; nothing was changed, retry shortly"
T = TypeVar("T")


class UnstorableValue(InvalidRequest):
    """A value PostgreSQL refuses (a NUL character in text, a number out of range): the client's input, so a
    400 with nothing applied; SQLite takes such values, so the same request must not become a 500 here."""


def scalar(cursor: Any) -> Any:
    """The one value of a query that always answers one row (an aggregate, a function call, `RETURNING`)."""
    row = cursor.fetchone()
    assert row is not None, "the query answers one row"
    return row[0]


@functools.lru_cache(maxsize=1024)
def to_psycopg(sql: str) -> str:
    """`?` parameter marks (sqlite3 style) as psycopg's `%s`; a literal `%` is doubled."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresConnection:
    """A psycopg connection answering `execute`/`executemany` with `?` parameter marks."""

    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection):
        self.raw = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor:
        return self.raw.execute(to_psycopg(sql), params or None)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> psycopg.Cursor:
        cursor = self.raw.cursor()
        cursor.executemany(to_psycopg(sql), rows)
        return cursor


class PostgresDatabase:
    dialect = "postgresql"

    def __init__(self, url: str, *, max_connections: int = 10, connect_timeout: float = 5.0, configure=None):
        self.url = url
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            timeout=connect_timeout,
            kwargs={"connect_timeout": max(1, int(connect_timeout))},
            configure=configure,
            check=ConnectionPool.check_connection,  # a server restart leaves dead connections in the pool
            open=False,
        )
        self.pool.open(wait=False)
        self._statement_pools: list[StatementPool] = []

    @contextmanager
    def transaction(self) -> Iterator[PostgresConnection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        try:
            with self.pool.connection() as conn:
                yield PostgresConnection(conn)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise ServiceUnavailable(UNAVAILABLE) from exc
        except psycopg.DataError as exc:
            raise UnstorableValue(f"PostgreSQL cannot take a value of this request: {exc}") from None

    reading = transaction  # MVCC: readers need no lock of ours

    def statements(self, settings: dict[str, str]) -> StatementPool:
        """A pool of autocommit connections with these session settings (see StatementPool), closed with this
        database; it connects when first used."""
        pool = StatementPool(self.url, settings, max_connections=self.pool.max_size,
                             connect_timeout=self.pool.timeout)
        self._statement_pools.append(pool)
        return pool

    def close(self) -> None:
        for pool in self._statement_pools:
            pool.close()
        self.pool.close()


class StatementPool:
    """Autocommit connections for reads that are one statement each (a statement sees one snapshot), every session
    started with the same settings. A transaction costs a short read two more round trips (BEGIN, COMMIT) and the
    pool's liveness probe a third; on a local server a pgvector query is ~1 ms and each of those ~0.1 ms of both
    processes' CPU. Without the probe, a connection the server dropped (a restart) fails when used: it is thrown
    away and the read runs once more on a new one.

    `session(conn)` is the caller's dict for one connection, kept while it lives (nothing in it may hold the
    connection): what was SET on it, so that a setting that varies per read, such as `hnsw.ef_search`, is sent only
    when it changes."""

    def __init__(self, url: str, settings: dict[str, str], *, max_connections: int, connect_timeout: float):
        options = " ".join(f"-c {name}={value}" for name, value in settings.items())
        self.pool = ConnectionPool(
            url, min_size=0, max_size=max_connections, timeout=connect_timeout, open=False,
            kwargs={"autocommit": True, "connect_timeout": max(1, int(connect_timeout)), "options": options},
        )
        self._opened = False
        self._lock = threading.Lock()
        self._sessions: weakref.WeakKeyDictionary[psycopg.Connection, dict[str, Any]] = weakref.WeakKeyDictionary()

    def run(self, read: Callable[[psycopg.Connection], T]) -> T:
        """`read(conn)`'s answer; PostgreSQL unreachable is ServiceUnavailable."""
        if not self._opened:
            with self._lock:
                if not self._opened:
                    self.pool.open(wait=False)
                    self._opened = True
        try:
            with self.pool.connection() as conn:
                try:
                    return read(conn)
                except psycopg.OperationalError:
                    if not conn.closed:  # the statement failed, not the connection
                        raise
            # the server had dropped it (a restart): so it did the others waiting in the pool
            self.pool.check()
            with self.pool.connection() as conn:
                return read(conn)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise ServiceUnavailable(UNAVAILABLE) from exc

    def session(self, conn: psycopg.Connection) -> dict[str, Any]:
        return self._sessions.setdefault(conn, {})

    def close(self) -> None:
        self.pool.close()
