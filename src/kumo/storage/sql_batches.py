"""Workers AI batch jobs in SQL (SQLite or PostgreSQL): a durable queue shared by every node and worker.

A worker claims the oldest queued job with a lease and renews it while the job runs; a job whose lease
ran out (its worker was killed) is claimed again. Results land only while the claimer still holds the
lease, so a job's answer is written exactly once even if a slow worker lost its lease to another.
"""

from __future__ import annotations

import json
import time

from kumo.ai.store import BatchJob

_COLUMNS = "id, account, model, status, requests, responses, usage, done_count, created_at"


def _job(row) -> BatchJob:
    jid, account, model, status, requests, responses, usage, done, created = row
    return BatchJob(jid, account, model, status, json.loads(requests), json.loads(responses) if responses else None,
                    json.loads(usage) if usage else None, done, created)


class SqlBatchStore:
    def __init__(self, db, lease_seconds: float = 60.0):
        self.db = db
        self.lease_seconds = lease_seconds
        # PostgreSQL: claimers skip each other's locked rows instead of queueing behind them.
        self._skip_locked = " FOR UPDATE SKIP LOCKED" if db.dialect == "postgresql" else ""

    def add(self, job):
        with self.db.transaction() as conn:
            conn.execute(
                f"INSERT INTO ai_batch_jobs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, NULL, 0, ?)",
                (job.id, job.account, job.model, job.status, json.dumps(job.requests), job.created_at),
            )

    def get(self, account, job_id):
        with self.db.reading() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM ai_batch_jobs WHERE account = ? AND id = ?",
                               (account, job_id)).fetchone()
        return _job(row) if row else None

    def claim_next(self, owner: str):
        now = time.time()
        with self.db.transaction() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM ai_batch_jobs WHERE status = 'queued'"
                " OR (status = 'running' AND lease_until < ?) ORDER BY created_at LIMIT 1" + self._skip_locked,
                (now,),
            ).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE ai_batch_jobs SET status = 'running', lease_owner = ?, lease_until = ? WHERE id = ?",
                         (owner, now + self.lease_seconds, row[0]))
        job = _job(row)
        return BatchJob(job.id, job.account, job.model, "running", job.requests, None, None, 0, job.created_at)

    def renew(self, job_id: str, owner: str, done_count: int | None = None) -> bool:
        """Extend the lease (and record progress); False if another worker has taken the job."""
        until = time.time() + self.lease_seconds
        with self.db.transaction() as conn:
            if done_count is None:
                cur = conn.execute("UPDATE ai_batch_jobs SET lease_until = ? WHERE id = ? AND lease_owner = ?"
                                   " AND status = 'running'", (until, job_id, owner))
            else:
                cur = conn.execute("UPDATE ai_batch_jobs SET lease_until = ?, done_count = ? WHERE id = ?"
                                   " AND lease_owner = ? AND status = 'running'", (until, done_count, job_id, owner))
            return cur.rowcount == 1

    def finish(self, job_id, responses, usage, owner: str) -> bool:
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE ai_batch_jobs SET status = 'done', responses = ?, usage = ?, done_count = ?,"
                " lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ? AND status = 'running'",
                (json.dumps(responses), json.dumps(usage), len(responses), job_id, owner),
            )
            return cur.rowcount == 1

    def requeue_running(self):
        """Embedded only (one process owns the data dir): jobs running at a crash start again at once."""
        with self.db.transaction() as conn:
            return conn.execute("UPDATE ai_batch_jobs SET status = 'queued', lease_owner = NULL, lease_until = NULL"
                                " WHERE status = 'running'").rowcount

    def pending_count(self):
        with self.db.reading() as conn:
            # (`!=` read every job ever done; the queue index answers IN)
            return conn.execute("SELECT count(*) FROM ai_batch_jobs WHERE status IN ('queued', 'running')"
                                ).fetchone()[0]

    def close(self):
        self.db.close()
