"""`kumo migrate`: bring the database schema up to date (PostgreSQL, or the SQLite files of a data dir), or
move an embedded data dir's state into PostgreSQL (`--from DATA_DIR --to postgresql://...`), R2's objects into
the engine the r2_engine_* settings name."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kumo.config import Settings

SQLITE_FILES = {"vectorize": "vectorize.sqlite3", "gateway": "gateway.sqlite3", "batches": "ai-batches.sqlite3",
                "cache": "gateway-cache.sqlite3", "aisearch": "aisearch.sqlite3",
                "custom_models": "custom-models.sqlite3"}


@click.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="Embedded state [default: ./.kumo].")
@click.option("--database-url", default=None, help="postgresql://... [default: KUMO_DATABASE_URL].")
@click.option("--from", "source", type=click.Path(path_type=Path, exists=True, file_okay=False), default=None,
              help="Copy this data dir's state ...")
@click.option("--to", "target", default=None, help="... into this PostgreSQL database (which must hold no kumo state).")
def migrate(data_dir, database_url, source, target) -> None:
    """Apply schema migrations (kumo also applies them when it starts), or copy a data dir into PostgreSQL."""
    from kumo.platform import choose_backends
    from kumo.storage import migrate as migrations

    if source is not None or target is not None:
        if source is None or target is None:
            raise click.UsageError("--from DATA_DIR and --to postgresql://... go together")
        _copy(source, target)
        return
    overrides = {k: v for k, v in dict(data_dir=data_dir, database_url=database_url).items() if v is not None}
    settings = Settings(**overrides)
    if choose_backends(settings).sql == "postgresql" and settings.database_url:
        applied = migrations.upgrade_postgres(settings.database_url)
        click.echo(f"PostgreSQL: applied {', '.join(applied)}" if applied else "PostgreSQL: up to date")
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    for branch, name in SQLITE_FILES.items():
        migrations.upgrade_sqlite(settings.data_dir / name, branch)
        click.echo(f"{settings.data_dir / name}: up to date")


def _copy(source: Path, target: str) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

    from kumo.errors import KumoError
    from kumo.storage.transfer import copy_data_dir

    from kumo.cli.settings import settings_or_exit
    from kumo.platform import r2_engine_config

    try:
        engine = r2_engine_config(settings_or_exit())  # where R2's bytes go: the r2_engine_* settings
    except ValueError as exc:
        click.echo(f"Nothing was copied: {exc}", err=True)
        sys.exit(1)
    tasks: dict[str, TaskID] = {}
    with Progress(TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn()) as bar:
        def progress(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=total)
            bar.update(tasks[table], completed=done)

        try:
            copied = copy_data_dir(source, target, progress, r2_engine=engine)
        except KumoError as exc:
            click.echo(f"Nothing was copied: {exc.message}", err=True)
            sys.exit(1)
        except ValueError as exc:  # the R2 engine refused kumo's credentials or bucket
            click.echo(f"Nothing was copied into PostgreSQL: {exc}", err=True)
            sys.exit(1)
    click.echo(f"Copied {sum(copied.values())} rows from {source} into PostgreSQL. Start kumo with "
               "KUMO_DATABASE_URL set to it.")
    if engine is not None and "r2_objects" in copied:
        click.echo(f"R2: {copied['r2_objects']} objects and {copied.get('r2_parts', 0)} upload parts moved into the "
                   f"engine at {engine.url} (bucket {engine.bucket}); start kumo with the same r2_engine_* settings.")
    elif (source / "r2.sqlite3").exists():
        click.echo(f"R2 objects stay in {source / 'r2'} (no r2_engine_url set): serve them from this data dir, or "
                   "set r2_engine_url and its keys and run the move into an empty database again.")
