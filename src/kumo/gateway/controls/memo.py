"""What a control compiles from a gateway's setting (regexes, counter keys, exporters), kept per setting object.
The gateway service hands out the same settings dict until the gateway changes, so identity finds it without
hashing the setting on every request; the entry holds the object, so its id cannot be reused while cached."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
MAX_ENTRIES = 4096


class Memo:
    def __init__(self):
        self._entries: dict[int, tuple[Any, Any]] = {}
        self._lock = threading.Lock()

    def get(self, setting: Any, build: Callable[[Any], T]) -> T:
        entry = self._entries.get(id(setting))
        if entry is not None and entry[0] is setting:
            return entry[1]
        value = build(setting)
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:  # settings change rarely: a bound keeps old ones from piling up
                self._entries.clear()
            self._entries[id(setting)] = (setting, value)
        return value
