"""`kumo migrate`: bring the database schema up to date (PostgreSQL, or the SQLite files of a data dir)."""

from __future__ import annotations

from pathlib import Path

import click

from kumo.config import Settings

SQLITE_FILES = {"vectorize": "vectorize.sqlite3", "gateway": "gateway.sqlite3", "batches": "ai-batches.sqlite3",
                "cache": "gateway-cache.sqlite3"}


@click.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="Embedded state [default: ./.kumo].")
@click.option("--database-url", default=None, help="postgresql://... [default: KUMO_DATABASE_URL].")
def migrate(data_dir, database_url) -> None:
    """Apply schema migrations (kumo also applies them when it starts)."""
    from kumo.storage import migrate as migrations

    overrides = {k: v for k, v in dict(data_dir=data_dir, database_url=database_url).items() if v is not None}
    settings = Settings(**overrides)
    if settings.database_url:
        applied = migrations.upgrade_postgres(settings.database_url)
        click.echo(f"PostgreSQL: applied {', '.join(applied)}" if applied else "PostgreSQL: up to date")
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    for branch, name in SQLITE_FILES.items():
        migrations.upgrade_sqlite(settings.data_dir / name, branch)
        click.echo(f"{settings.data_dir / name}: up to date")
