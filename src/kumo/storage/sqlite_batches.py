"""Workers AI batch jobs in SQLite: a durable queue (a restart resumes unfinished jobs)."""

from __future__ import annotations

import json
from pathlib import Path

from kumo.ai.store import BatchJob
from kumo.storage.sqlite import SqliteDatabase

MIGRATIONS = [
    """
    CREATE TABLE ai_batch_jobs (
        id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        model TEXT NOT NULL,
        status TEXT NOT NULL,
        requests TEXT NOT NULL,
        responses TEXT,
        usage TEXT,
        done_count INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE INDEX ai_batch_jobs_queue ON ai_batch_jobs (status, created_at)
    """,
]
_COLUMNS = "id, account, model, status, requests, responses, usage, done_count, created_at"


def _job(row) -> BatchJob:
    jid, account, model, status, requests, responses, usage, done, created = row
    return BatchJob(jid, account, model, status, json.loads(requests), json.loads(responses) if responses else None,
                    json.loads(usage) if usage else None, done, created)


class SqliteBatchStore:
    def __init__(self, path: Path):
        self.db = SqliteDatabase(path, MIGRATIONS)

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

    def claim_next(self):
        with self.db.transaction() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM ai_batch_jobs WHERE status = 'queued' ORDER BY created_at LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE ai_batch_jobs SET status = 'running' WHERE id = ?", (row[0],))
        job = _job(row)
        return BatchJob(job.id, job.account, job.model, "running", job.requests, None, None, 0, job.created_at)

    def progress(self, job_id, done_count):
        with self.db.transaction() as conn:
            conn.execute("UPDATE ai_batch_jobs SET done_count = ? WHERE id = ?", (done_count, job_id))

    def finish(self, job_id, responses, usage):
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE ai_batch_jobs SET status = 'done', responses = ?, usage = ?, done_count = ? WHERE id = ?",
                (json.dumps(responses), json.dumps(usage), len(responses), job_id),
            )

    def requeue_running(self):
        with self.db.transaction() as conn:
            return conn.execute("UPDATE ai_batch_jobs SET status = 'queued' WHERE status = 'running'").rowcount

    def pending_count(self):
        with self.db.reading() as conn:
            return conn.execute("SELECT count(*) FROM ai_batch_jobs WHERE status != 'done'").fetchone()[0]

    def close(self):
        self.db.close()
