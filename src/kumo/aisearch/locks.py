"""One instance indexes one thing at a time: a sync, an upload's indexing and a delete take the instance's
lock (an interleaving could leave vectors without chunks, or remove a neighbour's fresh vectors as orphans).
Embedded, an asyncio lock per instance is enough; several nodes share PostgreSQL's advisory locks instead
(`kumo.storage.pg_locks`). Platform chooses."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from typing import Protocol


class InstanceLocks(Protocol):
    def hold(self, instance_pk: int) -> AbstractAsyncContextManager[None]: ...


class LocalLocks:
    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}

    def hold(self, instance_pk: int) -> asyncio.Lock:
        return self._locks.setdefault(instance_pk, asyncio.Lock())
