"""Batch scoring jobs in SQL (SQLite embedded, PostgreSQL shared by every node and `kumo worker`).

A worker claims one chunk of rows at a time with a lease it renews while scoring; a chunk whose lease ran out
(its worker was killed) is claimed again. A chunk becomes `done` only while its claimer still holds the lease,
and only with the key of the part object it wrote, so each chunk counts once whoever scored it. The worker that
finishes the last chunk turns the job to `composing` under the job row's lock, so exactly one finisher does.
"""

from __future__ import annotations

import builtins
import json
import time

from kumo.custom_models.scoring.jobs import MAX_ATTEMPTS, Chunk, ScoringJob
from kumo.timestamps import iso_now

MAX_LOST = MAX_ATTEMPTS + 3  # kill -9s while scoring one chunk (a deploy may cause one or two): then its job fails

_JOB = ("j.id, j.account, j.spec, j.status, j.rows_total, j.chunks_total, j.created, j.error, j.output_etag,"
        " j.finished, (SELECT coalesce(sum(c.rows), 0) FROM scoring_chunks c WHERE c.job_id = j.id AND"
        " c.status = 'done'), (SELECT count(*) FROM scoring_chunks c WHERE c.job_id = j.id AND c.status = 'done')")


def _job(row) -> ScoringJob:
    jid, account, spec, status, total, chunks, created, error, etag, finished, done_rows, done_chunks = row
    return ScoringJob(jid, account, json.loads(spec), status, int(total), int(chunks), created, int(done_rows),
                      int(done_chunks), error, etag, finished)


class SqlScoringStore:
    def __init__(self, db, lease_seconds: float = 60.0):
        self.db = db
        self.lease_seconds = lease_seconds
        postgres = db.dialect == "postgresql"
        # PostgreSQL: claimers skip each other's locked rows instead of queueing behind them
        self._skip_locked = " FOR UPDATE SKIP LOCKED" if postgres else ""
        self._lock_row = " FOR UPDATE" if postgres else ""  # SQLite: BEGIN IMMEDIATE already serializes writers

    def add(self, job: ScoringJob) -> None:
        chunk_rows = job.spec["chunk_rows"]
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO scoring_jobs (id, account, spec, status, rows_total, chunks_total, created)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?)", (job.id, job.account, json.dumps(job.spec), job.status,
                                                           job.rows_total, job.chunks_total, job.created))
            for idx in range(job.chunks_total):
                start = idx * chunk_rows
                conn.execute("INSERT INTO scoring_chunks (job_id, idx, job_created, start_row, rows, status)"
                             " VALUES (?, ?, ?, ?, ?, 'queued')",
                             (job.id, idx, job.created, start, min(chunk_rows, job.rows_total - start)))

    def get(self, account: str, job_id: str) -> ScoringJob | None:
        with self.db.reading() as conn:
            row = conn.execute(f"SELECT {_JOB} FROM scoring_jobs j WHERE j.account = ? AND j.id = ?",
                               (account, job_id)).fetchone()
        return _job(row) if row else None

    def job(self, job_id: str) -> ScoringJob | None:
        with self.db.reading() as conn:
            row = conn.execute(f"SELECT {_JOB} FROM scoring_jobs j WHERE j.id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def list(self, account: str, limit: int) -> list[ScoringJob]:
        with self.db.reading() as conn:
            rows = conn.execute(f"SELECT {_JOB} FROM scoring_jobs j WHERE j.account = ? ORDER BY j.created DESC"
                                " LIMIT ?", (account, limit)).fetchall()
        return [_job(r) for r in rows]

    # ---- chunks -----------------------------------------------------------------------------------------------

    def claim_chunk(self, owner: str) -> Chunk | None:
        now = time.time()
        with self.db.transaction() as conn:
            while True:
                row = conn.execute(
                    "SELECT job_id, idx, start_row, rows, attempts, status FROM scoring_chunks WHERE status = 'queued'"
                    " OR (status = 'running' AND lease_until < ?) ORDER BY job_created, idx LIMIT 1"
                    + self._skip_locked, (now,)).fetchone()
                if row is None:
                    return None
                attempts = int(row[4]) + (row[5] == "running")  # a lease run out: its worker died scoring it
                if attempts < MAX_LOST:
                    break
                # a chunk that takes its worker down every time would otherwise be scored forever
                self._end(conn, row[0], "failed", f"chunk {row[1]} was interrupted {attempts} times (its worker "
                                                  "stopped while scoring it: out of memory?)")
            conn.execute("UPDATE scoring_chunks SET status = 'running', lease_owner = ?, lease_until = ?,"
                         " attempts = ? WHERE job_id = ? AND idx = ?",
                         (owner, now + self.lease_seconds, attempts, row[0], row[1]))
        return Chunk(row[0], int(row[1]), int(row[2]), int(row[3]), attempts)

    def renew_chunk(self, job_id: str, idx: int, owner: str) -> bool:
        with self.db.transaction() as conn:
            return conn.execute("UPDATE scoring_chunks SET lease_until = ? WHERE job_id = ? AND idx = ? AND"
                                " lease_owner = ? AND status = 'running'",
                                (time.time() + self.lease_seconds, job_id, idx, owner)).rowcount == 1

    def finish_chunk(self, job_id: str, idx: int, owner: str, part_key: str) -> bool:
        """Record the chunk's part; False if another worker holds the chunk now (or the job ended)."""
        with self.db.transaction() as conn:
            job = conn.execute("SELECT status FROM scoring_jobs WHERE id = ?" + self._lock_row, (job_id,)).fetchone()
            if job is None or job[0] != "running":
                return False
            cur = conn.execute("UPDATE scoring_chunks SET status = 'done', part_key = ?, lease_owner = NULL,"
                               " lease_until = NULL WHERE job_id = ? AND idx = ? AND lease_owner = ? AND"
                               " status = 'running'", (part_key, job_id, idx, owner))
            if cur.rowcount != 1:
                return False
            left = conn.execute("SELECT count(*) FROM scoring_chunks WHERE job_id = ? AND status != 'done'",
                                (job_id,)).fetchone()[0]
            if left == 0:  # the last chunk: the output can be composed (by whichever worker claims it)
                conn.execute("UPDATE scoring_jobs SET status = 'composing', lease_owner = NULL, lease_until = NULL"
                             " WHERE id = ?", (job_id,))
            return True

    def release_chunk(self, job_id: str, idx: int, owner: str) -> int:
        """Give a chunk back after an unexpected failure; the attempts it has had. The job fails after
        MAX_ATTEMPTS."""
        with self.db.transaction() as conn:
            conn.execute("UPDATE scoring_chunks SET status = 'queued', attempts = attempts + 1, lease_owner = NULL,"
                         " lease_until = NULL WHERE job_id = ? AND idx = ? AND lease_owner = ? AND status = 'running'",
                         (job_id, idx, owner))
            row = conn.execute("SELECT attempts FROM scoring_chunks WHERE job_id = ? AND idx = ?",
                               (job_id, idx)).fetchone()
        return int(row[0]) if row else 0

    def part_keys(self, job_id: str) -> builtins.list[str]:  # (`list` is a method here)
        with self.db.reading() as conn:
            rows = conn.execute("SELECT part_key FROM scoring_chunks WHERE job_id = ? ORDER BY idx",
                                (job_id,)).fetchall()
        return [r[0] for r in rows]

    # ---- the whole job ----------------------------------------------------------------------------------------

    def claim_compose(self, owner: str) -> ScoringJob | None:
        """A job whose chunks are all done, to compose; one whose output failed MAX_ATTEMPTS times fails."""
        now = time.time()
        with self.db.transaction() as conn:
            row = conn.execute("SELECT id, compose_attempts FROM scoring_jobs WHERE status = 'composing' AND"
                               " (lease_owner IS NULL OR lease_until < ?) ORDER BY created LIMIT 1" + self._skip_locked,
                               (now,)).fetchone()
            if row is None:
                return None
            if row[1] >= MAX_ATTEMPTS:
                self._end(conn, row[0], "failed", f"the output could not be written in {MAX_ATTEMPTS} attempts; "
                                                  "the workers' logs say why")
                return None
            conn.execute("UPDATE scoring_jobs SET lease_owner = ?, lease_until = ?,"
                         " compose_attempts = compose_attempts + 1 WHERE id = ?",
                         (owner, now + self.lease_seconds, row[0]))
        return self.job(row[0])

    def renew_compose(self, job_id: str, owner: str) -> bool:
        with self.db.transaction() as conn:
            return conn.execute("UPDATE scoring_jobs SET lease_until = ? WHERE id = ? AND lease_owner = ? AND"
                                " status = 'composing'",
                                (time.time() + self.lease_seconds, job_id, owner)).rowcount == 1

    def finish_compose(self, job_id: str, owner: str, etag: str) -> bool:
        with self.db.transaction() as conn:
            return conn.execute("UPDATE scoring_jobs SET status = 'done', output_etag = ?, finished = ?,"
                                " lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ? AND"
                                " status = 'composing'", (etag, iso_now(), job_id, owner)).rowcount == 1

    def _end(self, conn, job_id: str, status: str, error: str | None) -> bool:
        cur = conn.execute("UPDATE scoring_jobs SET status = ?, error = ?, finished = ?, lease_owner = NULL,"
                           " lease_until = NULL WHERE id = ? AND status IN ('running', 'composing')",
                           (status, error, iso_now(), job_id))
        if cur.rowcount == 1:  # nothing more to score
            conn.execute("UPDATE scoring_chunks SET status = 'dropped', lease_owner = NULL, lease_until = NULL"
                         " WHERE job_id = ? AND status != 'done'", (job_id,))
        return cur.rowcount == 1

    def fail(self, job_id: str, error: str) -> bool:
        with self.db.transaction() as conn:
            return self._end(conn, job_id, "failed", error)

    def cancel(self, account: str, job_id: str) -> ScoringJob | None:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT status FROM scoring_jobs WHERE account = ? AND id = ?" + self._lock_row,
                               (account, job_id)).fetchone()
            if row is None:
                return None
            if row[0] == "running":  # once composing, the output is being written: it finishes
                self._end(conn, job_id, "cancelled", None)
        return self.get(account, job_id)

    def requeue_running(self) -> int:
        """Embedded only (one process owns the data dir): what was running at a crash is taken again at once."""
        with self.db.transaction() as conn:
            chunks = conn.execute("UPDATE scoring_chunks SET status = 'queued', attempts = attempts + 1,"
                                  " lease_owner = NULL, lease_until = NULL WHERE status = 'running'").rowcount
            jobs = conn.execute("UPDATE scoring_jobs SET lease_owner = NULL, lease_until = NULL,"
                                " compose_attempts = 0 WHERE status = 'composing'").rowcount
        return chunks + jobs

    def pending_count(self) -> int:
        with self.db.reading() as conn:
            return conn.execute("SELECT count(*) FROM scoring_jobs WHERE status IN ('running', 'composing')"
                                ).fetchone()[0]
