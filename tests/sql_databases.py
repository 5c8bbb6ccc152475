"""The database a SQL store is tested on, once per backend: a fixture parametrized with "sqlite" and "postgres"
calls `sql_database` and closes what it gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from kumo.storage.sqlite import SqliteDatabase

BACKENDS = ["sqlite", "postgres"]


def sql_database(request: pytest.FixtureRequest, tmp_path: Path, branch: str):
    """SQLite with `branch`'s schema, or the test PostgreSQL with every branch's."""
    if request.param == "sqlite":
        return SqliteDatabase(tmp_path / f"{branch}.sqlite3", branch=branch)
    from kumo.storage.migrate import upgrade_postgres
    from kumo.storage.postgres import PostgresDatabase

    url = request.getfixturevalue("pg_url")
    upgrade_postgres(url)
    return PostgresDatabase(url)
