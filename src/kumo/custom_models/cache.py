"""Loaded models, least recently used first out, bounded by the bytes of their files; the files themselves stay
on disk (named by model, version and ETag), so a model evicted from memory reloads without R2."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any


class LoadedModels:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._models: OrderedDict[tuple, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Any | None:
        with self._lock:
            entry = self._models.get(key)
            if entry is None:
                return None
            self._models.move_to_end(key)
            return entry[0]

    def put(self, key: tuple, model: Any, size: int) -> None:
        with self._lock:
            old = self._models.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._models[key] = (model, size)
            self._bytes += size
            while self._bytes > self.max_bytes and len(self._models) > 1:  # the newest stays even if over
                _, (_, dropped) = self._models.popitem(last=False)
                self._bytes -= dropped

    def drop(self, prefix: tuple) -> None:
        with self._lock:
            for key in [k for k in self._models if k[:len(prefix)] == prefix]:
                self._bytes -= self._models.pop(key)[1]

    @property
    def bytes(self) -> int:
        return self._bytes
