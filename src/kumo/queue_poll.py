"""How long a job queue's idle worker waits for a wake-up before it looks at the database anyway.

Alone on its database (embedded SQLite), every new job comes through this process's own submit, which wakes
the worker at once: the look is only a safety net, and polling every second cost an idle server ~1-2 ms of CPU
a second in thread hops and SQLite reads. Sharing it (PostgreSQL), other nodes' jobs and leases that ran out
are only found by looking."""

from __future__ import annotations

SHARED_DATABASE = 1.0  # seconds
ALONE = 30.0


def idle_poll(exclusive: bool) -> float:
    return ALONE if exclusive else SHARED_DATABASE
