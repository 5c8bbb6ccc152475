"""The `kumo` command line."""

from __future__ import annotations

import click

from kumo import __version__
from kumo.cli.aisearch import aisearch
from kumo.cli.gateway import gateway
from kumo.cli.migrate import migrate
from kumo.cli.models import models
from kumo.cli.r2 import r2
from kumo.cli.scoring import job, jobs, score
from kumo.cli.serve import serve
from kumo.cli.vectorize import vectorize
from kumo.cli.worker import worker
from kumo.cli.workers import workers


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kumo")
def main() -> None:
    """kumo: Cloudflare Workers AI, Vectorize and AI Gateway on your own machine."""


main.add_command(serve)
main.add_command(models)
for command in (score, jobs, job):  # batch scoring lives beside the custom models it scores with
    models.add_command(command)
main.add_command(gateway)
main.add_command(vectorize)
main.add_command(aisearch)
main.add_command(migrate)
main.add_command(worker)
main.add_command(workers)
main.add_command(r2)
