"""`kumo models list|pull|rm`: which models have real weights here, which run on a stand-in, fetching more."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from kumo.ai.catalog import Catalog
from kumo.ai.service import AiService
from kumo.ai.weights import WeightsStore
from kumo.config import Settings
from kumo.errors import KumoError

def _service(data_dir: Path | None, strict: bool = False) -> AiService:
    overrides = {"data_dir": data_dir} if data_dir else {}
    settings = Settings(**overrides)
    weights = WeightsStore(settings.models_dir or settings.data_dir / "models")
    return AiService(Catalog.load(settings.models), weights, strict=strict)


data_dir_option = click.option("--data-dir", type=click.Path(path_type=Path), default=None,
                               help="kumo's data directory [default: ./.kumo].")


@click.group()
def models() -> None:
    """Workers AI models: list, pull weights, remove them."""


@models.command("list")
@click.option("--task", help="Only this task, e.g. 'Text Generation'.")
@data_dir_option
def list_(task, data_dir):
    """Show every catalog model and what runs it here."""
    ai = _service(data_dir)
    console = Console()
    table = Table("model", "task", "runtime", "weights here")
    table.columns[0].no_wrap = True
    for entry in ai.catalog.search(task=task):
        state, stand_in = ai.status(entry)
        if state == "present":
            where = f"[green]yes[/] ({ai.weights.source(entry)})"
        elif state == "stand-in":
            where = f"[yellow]stand-in:[/] {stand_in}"
        else:
            where = "[red]no[/] (kumo models pull)" if entry.weights.get("hub") else "[red]no[/]"
        table.add_row(entry.name, entry.task.name, entry.runtime, where)
    console.print(table)


@models.command("pull")
@click.argument("names", nargs=-1, required=True)
@data_dir_option
def pull(names, data_dir):
    """Download models' real weights from their hub repositories (needs a network)."""
    ai = _service(data_dir)
    console = Console()
    for name in names:
        try:
            entry = ai.entry(name)
            console.print(f"Pulling [bold]{name}[/] from {entry.weights.get('hub')} ...")
            path = ai.weights.pull(entry)
        except KumoError as exc:
            raise click.ClickException(exc.message) from None
        console.print(f"[green]Done:[/] {name} -> {path}")


@models.command("rm")
@click.argument("names", nargs=-1, required=True)
@data_dir_option
def rm(names, data_dir):
    """Remove pulled weights."""
    ai = _service(data_dir)
    console = Console()
    for name in names:
        try:
            entry = ai.entry(name)
        except KumoError as exc:
            raise click.ClickException(exc.message) from None
        if ai.weights.remove(entry):
            console.print(f"Removed the pulled weights of {name}.")
        else:
            console.print(f"{name} has no pulled weights here.")
