"""The model catalog: Cloudflare's model names mapped to a task, a runtime and where real weights come from.

The data lives in `catalog.json` beside this file; kumo.toml can add models (for example `remote` ones).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kumo.ai.tasks import TASKS, Task

CATALOG_FILE = Path(__file__).with_name("catalog.json")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    task: Task
    description: str
    runtime: str
    weights: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    properties: list[dict[str, Any]] = field(default_factory=list)
    stand_in: str | None = None
    id: str = ""

    @property
    def author(self) -> str:
        parts = self.name.lstrip("@").split("/")
        return parts[1] if len(parts) > 2 else parts[0]

    @property
    def max_input_tokens(self) -> int | None:
        """Cloudflare's published limit on one input text (its `max_input_tokens` property), if it has one."""
        for prop in self.properties:
            if prop.get("property_id") == "max_input_tokens":
                return int(prop["value"])
        return None

    @property
    def slug(self) -> str:
        """A directory name for the model's weights."""
        return self.name.lstrip("@").replace("/", "--")

    def as_json(self) -> dict[str, Any]:
        """The model object of `GET /ai/models/search`."""
        return {
            "id": self.id,
            "source": 1,
            "name": self.name,
            "description": self.description,
            "task": self.task.as_json(),
            "tags": [],
            "properties": self.properties,
        }


def entry_from_json(raw: dict[str, Any]) -> ModelEntry:
    task = TASKS[raw["task"]]
    return ModelEntry(
        name=raw["name"],
        task=task,
        description=raw.get("description", ""),
        runtime=raw["runtime"],
        weights=raw.get("weights", {}),
        config=raw.get("config", {}),
        properties=raw.get("properties", []),
        stand_in=raw.get("stand_in"),
        id=raw.get("id") or str(uuid.uuid5(uuid.NAMESPACE_URL, "kumo-model:" + raw["name"])),
    )


class Catalog:
    def __init__(self, entries: list[ModelEntry]):
        self._by_name = {e.name: e for e in entries}

    @classmethod
    def load(cls, extra: list[dict[str, Any]] | None = None) -> Catalog:
        raw = json.loads(CATALOG_FILE.read_text())["models"]
        entries = [entry_from_json(r) for r in raw]
        for item in extra or []:  # models from kumo.toml replace or extend the built-in ones
            entries = [e for e in entries if e.name != item["name"]] + [entry_from_json(item)]
        return cls(entries)

    def get(self, name: str) -> ModelEntry | None:
        return self._by_name.get(name)

    def __iter__(self):
        return iter(self._by_name.values())

    def search(self, *, task: str | None = None, search: str | None = None, author: str | None = None) -> list[ModelEntry]:
        out = []
        for entry in self._by_name.values():
            if task and task.lower() not in (entry.task.name.lower(), entry.task.slug, entry.task.id):
                continue
            if author and author.lower() != entry.author.lower():
                continue
            if search and search.lower() not in (entry.name + " " + entry.description).lower():
                continue
            out.append(entry)
        return out
