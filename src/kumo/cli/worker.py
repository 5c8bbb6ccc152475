"""`kumo worker`: run Workers AI batch jobs and batch scoring jobs from the shared PostgreSQL queue, without
serving HTTP.
Start as many as the models' hardware allows; each job runs once, and a killed worker's job is taken
over when its lease runs out."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import click

from kumo.cli.settings import settings_or_exit
from kumo.log_format import configure_logging


async def _run_until_signalled(platform) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    platform.batches.start()
    platform.scoring_workers.start()
    await stop.wait()
    await platform.batches.stop()
    await platform.scoring_workers.stop()


@click.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="Where local state lives.")
@click.option("--database-url", default=None, help="postgresql://... [default: KUMO_DATABASE_URL].")
def worker(data_dir, database_url) -> None:
    """Run batch jobs (`?queueRequest=true`) and scoring jobs from the shared database."""
    from kumo.platform import Platform, choose_backends

    overrides = {k: v for k, v in dict(data_dir=data_dir, database_url=database_url).items() if v is not None}
    settings = settings_or_exit(**overrides)
    if choose_backends(settings).sql != "postgresql":
        click.echo("kumo worker needs a shared database: set KUMO_DATABASE_URL=postgresql://... (embedded, "
                   "`kumo serve` runs batch jobs itself).", err=True)
        sys.exit(2)
    configure_logging(settings.log_format, settings.log_level)
    platform = Platform(settings)
    click.echo(f"kumo worker {platform.batches.owner}: waiting for batch jobs")
    try:
        asyncio.run(_run_until_signalled(platform))
    finally:
        platform.close()
