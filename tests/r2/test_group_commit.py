"""Group commit (kumo.storage.group_commit): concurrent writes share a transaction and its fsync, each caller
returns only once its write is committed, and a write that fails is rolled back alone."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager

import pytest

from kumo.storage.group_commit import GroupCommit, OneByOne, committer
from kumo.storage.sqlite import SqliteDatabase


class CountingDatabase(SqliteDatabase):
    commits = 0

    @contextmanager
    def transaction(self):
        with super().transaction() as conn:
            yield conn
        self.commits += 1


def test_concurrent_writes_share_commits_and_a_failure_stays_alone(tmp_path):
    db = CountingDatabase(tmp_path / "g.sqlite3")
    with db.transaction() as conn:
        conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    db.commits = 0
    group = GroupCommit(db)
    first_running, release = threading.Event(), threading.Event()
    results: dict[int, object] = {}

    def write(i: int):
        def fn(conn):
            if i == 0:  # the first write holds its batch open until every other writer is queued
                first_running.set()
                release.wait(10)
            if i == 7:
                conn.execute("INSERT INTO t VALUES ('x7')")
                raise ValueError("refused")  # its insert is rolled back, the others' are not
            conn.execute("INSERT INTO t VALUES (?)", (f"x{i}",))
            return i

        try:
            results[i] = group.run(fn)
            # answered = committed: another connection already sees the row
            seen = sqlite3.connect(db.path).execute("SELECT 1 FROM t WHERE k = ?", (f"x{i}",)).fetchone()
            assert seen is not None
        except ValueError as exc:
            results[i] = exc

    threads = [threading.Thread(target=write, args=(0,))]
    threads[0].start()
    assert first_running.wait(10)
    threads += [threading.Thread(target=write, args=(i,)) for i in range(1, 16)]
    for t in threads[1:]:
        t.start()
    while len(group._queue) < 15:
        threading.Event().wait(0.01)
    release.set()
    for t in threads:
        t.join(10)
    assert isinstance(results.pop(7), ValueError)
    assert results == {i: i for i in range(16) if i != 7}
    rows = {r[0] for r in sqlite3.connect(db.path).execute("SELECT k FROM t")}
    assert rows == {f"x{i}" for i in range(16) if i != 7}
    assert db.commits == 2  # the first write's batch, then the fifteen that queued behind it
    db.close()


def test_a_failed_commit_fails_every_write_of_its_batch(tmp_path):
    db = SqliteDatabase(tmp_path / "g.sqlite3")
    with db.transaction() as conn:
        conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
        conn.execute("CREATE TABLE c (k TEXT REFERENCES t (k) DEFERRABLE INITIALLY DEFERRED)")
    group = GroupCommit(db)
    with pytest.raises(sqlite3.IntegrityError):  # the deferred foreign key fails at COMMIT
        group.run(lambda conn: conn.execute("INSERT INTO c VALUES ('missing')"))
    assert sqlite3.connect(db.path).execute("SELECT count(*) FROM c").fetchone()[0] == 0
    assert group.run(lambda conn: conn.execute("INSERT INTO t VALUES ('ok')").rowcount) == 1
    db.close()


def test_postgres_commits_one_by_one(tmp_path):
    assert isinstance(committer(SqliteDatabase(tmp_path / "x.sqlite3")), GroupCommit)

    class Pg:
        dialect = "postgresql"

    assert isinstance(committer(Pg()), OneByOne)
