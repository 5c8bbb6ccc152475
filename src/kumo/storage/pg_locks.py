"""Locks shared by every node on one PostgreSQL database: session advisory locks, one per key, each held on a
connection of its own (not the pool's: a long sync must not starve the queries) for as long as the lock is
held. A node that dies loses its connections, and with them its locks, so nothing waits for a lease to run out.

Waiting polls `pg_try_advisory_lock` instead of blocking a thread in `pg_advisory_lock`. Within one process
a local asyncio lock queues the waiters first, so a process holds at most one connection per key.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg

from kumo.api.threads import blocking
from kumo.errors import ServiceUnavailable
from kumo.storage.postgres import UNAVAILABLE, scalar

POLL_SECONDS = 0.1


class AdvisoryLocks:
    def __init__(self, url: str, space: int, connect_timeout: float = 5.0):
        self.url = url
        self.space = space  # the first of the two int4 keys: which kind of thing the second one numbers
        self.connect_timeout = max(1, int(connect_timeout))
        self._local: dict[int, asyncio.Lock] = {}

    @asynccontextmanager
    async def hold(self, key: int) -> AsyncIterator[None]:
        async with self._local.setdefault(key, asyncio.Lock()):
            conn = await blocking(self._connect)
            try:
                while not await blocking(self._try, conn, key):
                    await asyncio.sleep(POLL_SECONDS)
                yield
            finally:
                await asyncio.shield(blocking(conn.close))  # closing the session releases the lock

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=self.connect_timeout)
        except psycopg.OperationalError as exc:
            raise ServiceUnavailable(UNAVAILABLE) from exc

    def _try(self, conn: psycopg.Connection, key: int) -> bool:
        try:
            return bool(scalar(conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (self.space, key))))
        except psycopg.OperationalError as exc:
            raise ServiceUnavailable(UNAVAILABLE) from exc
