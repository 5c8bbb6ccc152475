"""`kumo models score`: a batch scoring job over an R2 dataset, followed with a progress bar; and
`kumo models jobs` / `kumo models job ID [--cancel]` to see and stop jobs."""

from __future__ import annotations

import json
import time

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from kumo.cli.client import client_options, make_client

FINISHED = ("done", "failed", "cancelled")


def _model(name: str) -> str:
    """A bare name is a custom model's (`churn` is `@custom/churn`); catalog names start with '@'."""
    return name if name.startswith("@") else f"@custom/{name}"


def _follow(api, job: dict, every: float) -> dict:
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("rows"), TimeRemainingColumn(), console=Console(stderr=True))
    with progress:
        bar = progress.add_task(job["status"], total=job["progress"]["rows_total"])
        while job["status"] not in FINISHED:
            time.sleep(every)
            job = api.request("GET", f"/ai/scoring-jobs/{job['id']}")
            progress.update(bar, completed=job["progress"]["rows_done"], description=job["status"])
    return job


@click.command("score")
@click.argument("name")
@click.option("--input", "source", required=True, metavar="r2://BUCKET/KEY", help="The dataset: Parquet, CSV or JSONL.")
@click.option("--output", "target", required=True, metavar="r2://BUCKET/KEY",
              help="Where to write the input's columns plus the predictions.")
@click.option("--column", "columns", multiple=True,
              help="An input column to score (repeat, in the model's feature order) [default: the model's feature "
                   "names; `text` for embeddings, `prompt` for text generation].")
@click.option("--version", "version", default=None, help="A custom model's version [default: the one served].")
@click.option("--input-format", type=click.Choice(["parquet", "csv", "jsonl"]), default=None,
              help="[default: from the input's extension]")
@click.option("--output-format", type=click.Choice(["parquet", "csv", "jsonl"]), default=None,
              help="[default: from the output's extension, else the input's format]")
@click.option("--chunk-rows", type=int, default=None, help="Rows per checkpoint [default: 50000].")
@click.option("--parameters", default=None, metavar="JSON",
              help='A catalog model\'s settings for every row, e.g. \'{"max_tokens": 64}\'.')
@click.option("--no-wait", is_flag=True, help="Print the job's id and return at once.")
@client_options
def score(name, source, target, columns, version, input_format, output_format, chunk_rows, parameters, no_wait, **kw):
    """Score an R2 dataset with a model (@custom/NAME, or a catalog embeddings / text generation model) into R2."""
    body = {"model": _model(name), "input": source, "output": target}
    optional = {"columns": list(columns) or None, "version": version, "input_format": input_format,
                "output_format": output_format, "chunk_rows": chunk_rows}
    body.update({k: v for k, v in optional.items() if v is not None})
    if parameters is not None:
        try:
            body["parameters"] = json.loads(parameters)
        except ValueError as exc:
            raise click.UsageError(f"--parameters is not JSON: {exc}") from None
    with make_client(kw) as api:
        job = api.request("POST", "/ai/scoring-jobs", json=body)
        if no_wait:
            click.echo(job["id"])
            return
        job = _follow(api, job, 0.5)
    if job["status"] != "done":
        raise click.ClickException(f"scoring job {job['id']} {job['status']}: {job.get('error') or ''}".strip())
    Console().print(f"[green]Scored[/] {job['progress']['rows_total']} rows with {job['model']}"
                    f"{' ' + job['model_version'] if job['model_version'] else ''} into {job['output']} "
                    f"(job {job['id']})")


@click.command("jobs")
@client_options
def jobs(**kw):
    """List recent batch scoring jobs and their progress."""
    with make_client(kw) as api:
        found = api.request("GET", "/ai/scoring-jobs")
    table = Table("id", "status", "model", "rows", "input", "output", "created")
    for job in found:
        p = job["progress"]
        table.add_row(job["id"], job["status"], f"{job['model']} {job['model_version'] or ''}".strip(),
                      f"{p['rows_done']}/{p['rows_total']}", job["input"], job["output"], job["created_on"])
    Console().print(table)


@click.command("job")
@click.argument("job_id")
@click.option("--cancel", is_flag=True, help="Stop the job; its output is not written.")
@click.option("--wait", is_flag=True, help="Follow it with a progress bar until it ends.")
@client_options
def job(job_id, cancel, wait, **kw):
    """Show one scoring job (or cancel it, or follow it)."""
    with make_client(kw) as api:
        found = api.request("DELETE" if cancel else "GET", f"/ai/scoring-jobs/{job_id}")
        if wait:
            found = _follow(api, found, 0.5)
    click.echo(json.dumps(found, indent=2))
