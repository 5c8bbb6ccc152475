"""How the CLI prints: one console, tables and JSON. Table cells are plain text: a bucket, key or model name that
looks like rich markup (`[red]x[/]`) prints as written; a cell kumo itself colours is a `styled(...)` Text."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

console = Console()

Cell = str | Text | None


def styled(text: str, style: str) -> Text:
    """A cell kumo colours on purpose (a status, a yes)."""
    return Text(text, style=style)


def table(columns: Sequence[str], rows: Iterable[Sequence[Cell]] = (), *, title: str | None = None,
          show_lines: bool = False, no_wrap_first: bool = False) -> Table:
    """A rich table whose string cells are never read as markup (None prints as an empty cell)."""
    out = Table(*columns, title=title, show_lines=show_lines)
    if no_wrap_first:
        out.columns[0].no_wrap = True
    for row in rows:
        out.add_row(*(cell if isinstance(cell, Text) else Text("" if cell is None else str(cell)) for cell in row))
    return out


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Cell]], **options: Any) -> None:
    console.print(table(columns, rows, **options))


def print_json(data: Any) -> None:
    console.print_json(json.dumps(data))
