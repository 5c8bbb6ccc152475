"""Opening PostgreSQL the way kumo's stores need it: a small connection pool, one transaction per
`with`, and the same `execute(sql, params)` with `?` parameter marks that the SQLite stores use, so a store
is written once for both. PostgreSQL being unreachable is a 503 the client can retry, never a 500.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from kumo.errors import InvalidRequest, ServiceUnavailable

UNAVAILABLE = "PostgreSQL is unreachable; nothing was changed, retry shortly"


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

    def close(self) -> None:
        self.pool.close()
