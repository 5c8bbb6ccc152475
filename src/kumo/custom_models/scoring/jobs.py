"""What a scoring job and its chunks are, and what the workers need from durable storage."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any, Protocol

MAX_ATTEMPTS = 3  # a chunk that fails this often for reasons other than the caller's fails its job


@dataclass(frozen=True)
class ScoringJob:
    id: str
    account: str
    spec: dict[str, Any]  # model, version, input/output (bucket, key, format), columns, parameters, chunk_rows
    status: str  # running | composing | done | failed | cancelled
    rows_total: int
    chunks_total: int
    created: str
    rows_done: int = 0
    chunks_done: int = 0
    error: str | None = None
    output_etag: str | None = None
    finished: str | None = None

    def describe(self) -> dict[str, Any]:
        spec = self.spec
        return {"id": self.id, "status": self.status, "model": spec["model"], "model_version": spec.get("version"),
                "input": f"r2://{spec['input']['bucket']}/{spec['input']['key']}", "input_format": spec["input"]["format"],
                "output": f"r2://{spec['output']['bucket']}/{spec['output']['key']}",
                "output_format": spec["output"]["format"], "columns": spec["columns"],
                "prediction_columns": spec["prediction_columns"], "chunk_rows": spec["chunk_rows"],
                "progress": {"rows_done": self.rows_done, "rows_total": self.rows_total,
                             "chunks_done": self.chunks_done, "chunks_total": self.chunks_total},
                "error": self.error, "output_etag": self.output_etag, "created_on": self.created,
                "finished_on": self.finished}


@dataclass(frozen=True)
class Chunk:
    job_id: str
    idx: int
    start_row: int
    rows: int
    attempts: int


class ScoringStore(Protocol):
    lease_seconds: float

    def add(self, job: ScoringJob) -> None: ...  # the job and its chunks, `running`
    def get(self, account: str, job_id: str) -> ScoringJob | None: ...
    def job(self, job_id: str) -> ScoringJob | None: ...
    def list(self, account: str, limit: int) -> list[ScoringJob]: ...
    def claim_chunk(self, owner: str) -> Chunk | None: ...  # queued (or lease run out) -> running, atomically
    def renew_chunk(self, job_id: str, idx: int, owner: str) -> bool: ...
    def finish_chunk(self, job_id: str, idx: int, owner: str, part_key: str) -> bool: ...
    def release_chunk(self, job_id: str, idx: int, owner: str) -> int: ...  # back to the queue; attempts so far
    def claim_compose(self, owner: str) -> ScoringJob | None: ...
    def renew_compose(self, job_id: str, owner: str) -> bool: ...
    def finish_compose(self, job_id: str, owner: str, etag: str) -> bool: ...
    def part_keys(self, job_id: str) -> builtins.list[str]: ...  # (`list` is a method here)
    def fail(self, job_id: str, error: str) -> bool: ...
    def cancel(self, account: str, job_id: str) -> ScoringJob | None: ...
    def requeue_running(self) -> int: ...
    def pending_count(self) -> int: ...
