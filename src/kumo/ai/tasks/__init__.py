"""Workers AI tasks: each module declares a task's Cloudflare name and id, and its input/output JSON Schemas.

A task knows nothing of how a model runs; runtimes do. Adding a task = one module + one line in TASKS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Task:
    slug: str
    id: str
    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    binary_input: str | None = None  # field a raw (non-JSON) request body fills: "audio" or "image"

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "description": self.description}


def _load() -> dict[str, Task]:
    from kumo.ai.tasks import (
        image_classification,
        speech_recognition,
        summarization,
        text_classification,
        text_embeddings,
        text_generation,
        text_to_image,
        translation,
    )

    modules = [text_generation, text_embeddings, text_classification, speech_recognition, image_classification,
               translation, summarization, text_to_image]
    return {m.TASK.slug: m.TASK for m in modules}


TASKS: dict[str, Task] = _load()
