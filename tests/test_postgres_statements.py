"""StatementPool (kumo.storage.postgres): autocommit connections for one-statement reads, with their session
settings, against the real PostgreSQL; a read survives the server dropping the pool's connections (a restart) and
an unreachable server is a 503, never a 500."""

from __future__ import annotations

import psycopg
import pytest

from kumo.errors import ServiceUnavailable
from kumo.storage.postgres import PostgresDatabase


@pytest.fixture
def db(pg_url):
    database = PostgresDatabase(pg_url, max_connections=3, connect_timeout=2)
    yield database
    database.close()


def test_sessions_start_with_the_settings_and_keep_what_the_caller_set(db):
    pool = db.statements({"enable_seqscan": "off", "work_mem": "8MB"})

    def read(conn: psycopg.Connection):
        assert conn.autocommit  # autocommit: no BEGIN/COMMIT around the read
        session = pool.session(conn)
        session["reads"] = session.get("reads", 0) + 1
        row = conn.execute("SELECT current_setting('enable_seqscan'), current_setting('work_mem'),"
                           " pg_backend_pid(), now() = statement_timestamp()").fetchone()
        return row, session["reads"]

    (seqscan, work_mem, pid, own_transaction), reads = pool.run(read)
    assert (seqscan, work_mem, own_transaction) == ("off", "8MB", True)
    (_, _, again, _), reads_again = pool.run(read)
    assert again == pid and (reads, reads_again) == (1, 2)  # the same connection, its session dict kept
    with db.transaction() as conn:  # the main pool's sessions are untouched
        assert conn.execute("SELECT current_setting('enable_seqscan')").fetchone()[0] == "on"


def test_a_read_survives_the_server_dropping_every_connection(db):
    pool = db.statements({})
    pids = {pool.run(lambda conn: conn.execute("SELECT pg_backend_pid()").fetchone()[0]) for _ in range(3)}
    with db.transaction() as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(?::int[]) AS pid", (list(pids),))
    after = pool.run(lambda conn: conn.execute("SELECT pg_backend_pid()").fetchone()[0])
    assert after not in pids


def test_a_statement_error_is_not_retried_and_is_the_callers(db):
    pool = db.statements({})
    calls = []

    def read(conn: psycopg.Connection):
        calls.append(1)
        return conn.execute("SELECT 1 / 0").fetchone()

    with pytest.raises(psycopg.errors.DivisionByZero):
        pool.run(read)
    assert len(calls) == 1


def test_unreachable_server_is_service_unavailable():
    from tests.conftest import free_port

    database = PostgresDatabase(f"postgresql://postgres@127.0.0.1:{free_port()}/none", connect_timeout=1)
    try:
        with pytest.raises(ServiceUnavailable):
            database.statements({}).run(lambda conn: conn.execute("SELECT 1").fetchone())
    finally:
        database.close()
