"""Moving an embedded data dir's state into PostgreSQL (`kumo migrate --from DATA_DIR --to URL`): for the user
who outgrows one machine. Rows are copied as they are (ids, sequence numbers and timestamps kept), in one
PostgreSQL transaction, so an interrupted copy leaves nothing behind and can simply be run again. The target
must hold no kumo state yet: merging two histories is not something to guess at.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kumo.errors import InvalidRequest
from kumo.storage.migrate import upgrade_postgres, upgrade_sqlite
from kumo.storage.postgres import PostgresConnection, PostgresDatabase

BATCH = 1000
Progress = Callable[[str, int, int], None]  # table, rows copied so far, rows in all


@dataclass(frozen=True)
class Table:
    file: str
    branch: str
    name: str


# In foreign-key order: a row's parent is copied before it.
TABLES = [
    Table("gateway.sqlite3", "gateway", "gateways"),
    Table("gateway.sqlite3", "gateway", "gateway_logs"),
    Table("gateway.sqlite3", "gateway", "gateway_log_bodies"),
    Table("gateway.sqlite3", "gateway", "gateway_routes"),
    Table("gateway.sqlite3", "gateway", "gateway_route_versions"),
    Table("ai-batches.sqlite3", "batches", "ai_batch_jobs"),
]


def _rows(path: Path, table: str) -> tuple[list[str], int, Iterator[tuple]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
    total = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def rows() -> Iterator[tuple]:
        try:
            yield from conn.execute(f"SELECT {', '.join(columns)} FROM {table}")
        finally:
            conn.close()

    return columns, total, rows()


def _check_empty(conn: PostgresConnection) -> None:
    for table in [t.name for t in TABLES] + ["vectorize_indexes"]:
        if conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
            raise InvalidRequest(f"the target database already holds kumo state (table {table} has rows); "
                                 "import into an empty database")


def copy_data_dir(data_dir: Path, url: str, progress: Progress = lambda table, done, total: None) -> dict[str, int]:
    """Copy every table of the data dir into PostgreSQL; returns rows copied per table."""
    upgrade_postgres(url)
    copied: dict[str, int] = {}
    db = PostgresDatabase(url, max_connections=1)
    try:
        with db.transaction() as conn:
            _check_empty(conn)
            for table in TABLES:
                path = data_dir / table.file
                if not path.exists():
                    continue
                upgrade_sqlite(path, table.branch)  # an older data dir: bring its schema up first
                columns, total, rows = _rows(path, table.name)
                insert = (f"INSERT INTO {table.name} ({', '.join(columns)}) "
                          f"VALUES ({', '.join('?' * len(columns))})")
                done = 0
                batch: list[tuple] = []
                for row in rows:
                    batch.append(row)
                    if len(batch) == BATCH:
                        conn.executemany(insert, batch)
                        done += len(batch)
                        batch = []
                        progress(table.name, done, total)
                if batch:
                    conn.executemany(insert, batch)
                    done += len(batch)
                progress(table.name, done, total)
                copied[table.name] = done
    finally:
        db.close()
    return copied
