"""The interface every runtime implements."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from kumo.ai.catalog import ModelEntry
from kumo.errors import InvalidRequest, ServiceUnavailable


@dataclass
class RunOutput:
    result: Any  # JSON-able, or bytes with `content_type`
    content_type: str = "application/json"
    usage: dict[str, int] = field(default_factory=dict)


class Runtime(ABC):
    tasks: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, entry: ModelEntry, root: Path, threads: int | None = None):
        self.entry = entry
        self.root = root
        self.threads = threads or os.cpu_count() or 1

    @abstractmethod
    async def run(self, inputs: dict[str, Any], options: dict[str, Any]) -> RunOutput:
        """Run one request whose input has already been validated against the task's schema."""

    async def stream(self, inputs: dict[str, Any], options: dict[str, Any]) -> AsyncGenerator[dict[str, Any], None]:
        raise InvalidRequest(f"{self.entry.name} does not support streaming")
        yield {}  # pragma: no cover

    def busy(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def file(self, key: str, default: str) -> Path:
        path = self.root / self.entry.config.get(key, default)
        if not path.exists():
            raise ServiceUnavailable(f"{self.entry.name}: expected weights file {path} is missing; "
                                     f"run `kumo models pull {self.entry.name}` again")
        return path


def require(module: str, extra: str):
    """Import an optional dependency or say which install provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ServiceUnavailable(f"this model needs the Python package `{module}`: pip install '{extra}'") from None
