"""What the batch queue needs from durable storage. Implementations live in `kumo.storage`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class BatchJob:
    id: str
    account: str
    model: str
    status: str  # queued | running | done
    requests: list[Any]
    responses: list[Any] | None
    usage: dict[str, int] | None
    done_count: int
    created_at: str


class BatchStore(Protocol):
    lease_seconds: float

    def add(self, job: BatchJob) -> None: ...
    def get(self, account: str, job_id: str) -> BatchJob | None: ...
    def claim_next(self, owner: str) -> BatchJob | None: ...  # queued (or lease expired) -> running, atomically
    def renew(self, job_id: str, owner: str, done_count: int | None = None) -> bool: ...  # False: lease lost
    def finish(self, job_id: str, responses: list[Any], usage: dict[str, int], owner: str) -> bool: ...
    def requeue_running(self) -> int: ...  # embedded, after a crash: running jobs start again
    def pending_count(self) -> int: ...
    def close(self) -> None: ...
