"""Locks shared by every node on one PostgreSQL database: session advisory locks, one per key, held on a
pooled connection for as long as the lock is held. A node that dies loses its connection, and with it its
locks, so nothing waits for a lease to run out.

Waiting polls `pg_try_advisory_lock` (the connection goes back to the pool between tries) instead of
blocking a thread and a connection in `pg_advisory_lock`. Within one process a local asyncio lock queues
the waiters first, so a process holds at most one connection per key.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg_pool import PoolTimeout
from starlette.concurrency import run_in_threadpool

from kumo.errors import ServiceUnavailable
from kumo.storage.postgres import UNAVAILABLE, PostgresDatabase

POLL_SECONDS = 0.1


class AdvisoryLocks:
    def __init__(self, db: PostgresDatabase, space: int):
        self.db = db
        self.space = space  # the first of the two int4 keys: which kind of thing the second one numbers
        self._local: dict[int, asyncio.Lock] = {}

    @asynccontextmanager
    async def hold(self, key: int) -> AsyncIterator[None]:
        async with self._local.setdefault(key, asyncio.Lock()):
            while (conn := await run_in_threadpool(self._try, key)) is None:
                await asyncio.sleep(POLL_SECONDS)
            try:
                yield
            finally:
                await asyncio.shield(run_in_threadpool(self._release, conn, key))

    def _try(self, key: int) -> psycopg.Connection | None:
        try:
            conn = self.db.pool.getconn()
        except PoolTimeout as exc:
            raise ServiceUnavailable(UNAVAILABLE) from exc
        try:
            locked = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (self.space, key)).fetchone()[0]
            conn.commit()  # the lock belongs to the session: no transaction stays open while it is held
        except psycopg.OperationalError as exc:
            self.db.pool.putconn(conn)
            raise ServiceUnavailable(UNAVAILABLE) from exc
        except BaseException:
            self.db.pool.putconn(conn)
            raise
        if locked:
            return conn
        self.db.pool.putconn(conn)
        return None

    def _release(self, conn: psycopg.Connection, key: int) -> None:
        try:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", (self.space, key))
            conn.commit()
        except psycopg.Error:
            pass  # a broken connection has lost its locks already; the pool discards it
        finally:
            self.db.pool.putconn(conn)
