"""Schema migrations with alembic, for SQLite and PostgreSQL alike (versions live in `migrations/`).

Each product's tables are one alembic branch. Embedded, each product has its own SQLite file (one
writer per file) and each file carries its own branch; scaled out, one PostgreSQL database carries them
all. Embedded files migrate when they are opened; PostgreSQL migrates at start-up under an advisory
lock (several nodes may start at once), or ahead of time with `kumo migrate`.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# the gateway cache lives in Redis when scaled out
POSTGRES_BRANCHES = ("vectorize", "gateway", "batches", "aisearch", "r2", "custom_models")
_LOCK_KEY = 0x6B756D6F  # "kumo": one advisory lock for every node's migrations


def _config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def sqlalchemy_url(url: str) -> str:
    """`postgresql://...` as users write it, with the driver kumo uses (psycopg 3)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def heads(branch: str | None = None) -> list[str]:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    return [h for h in script.get_heads() if branch is None or branch in script.get_revision(h).branch_labels]


def current(connection: sa.Connection) -> set[str]:
    if not sa.inspect(connection).has_table("alembic_version"):
        return set()
    return {row[0] for row in connection.execute(sa.text("SELECT version_num FROM alembic_version"))}


def upgrade_sqlite(path: Path, branch: str) -> None:
    engine = sa.create_engine(f"sqlite:///{path}", poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            if not set(heads(branch)) <= current(connection):
                command.upgrade(_config(connection), f"{branch}@head")
    finally:
        engine.dispose()


def upgrade_postgres(url: str, branches: tuple[str, ...] = POSTGRES_BRANCHES) -> list[str]:
    """Bring a PostgreSQL database to the newest schema; returns the revisions that were applied."""
    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            before = current(connection)
            for branch in branches:
                if not set(heads(branch)) <= current(connection):
                    command.upgrade(_config(connection), f"{branch}@head")
            return sorted(current(connection) - before)
    finally:
        engine.dispose()
