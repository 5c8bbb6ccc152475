"""Vector metadata: write-time rules, and the typed in-memory columns behind metadata indexes.

A metadata index on property `p` (type string, number or boolean) makes `p` filterable. Only values of
the index's type are indexed; strings keep their first 64 bytes (cut on a UTF-8 boundary), numbers are
float64. Nested properties are addressed with dots: `a.b` is `metadata["a"]["b"]`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kumo.vectorize.errors import INVALID_VECTOR, invalid

MAX_METADATA_BYTES = 10 * 1024
INDEXED_STRING_BYTES = 64
INDEX_TYPES = ("string", "number", "boolean")


def truncate_utf8(text: str, limit: int = INDEXED_STRING_BYTES) -> str:
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")


def check_metadata(metadata: Any, where: str) -> None:
    if not isinstance(metadata, dict):
        raise invalid("invalid_vector", f"{where}: metadata must be a JSON object", INVALID_VECTOR)
    _check_keys(metadata, where)
    size = len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_METADATA_BYTES:
        raise invalid(
            "invalid_vector",
            f"{where}: metadata is {size} bytes; the limit is {MAX_METADATA_BYTES} bytes (10 KiB)",
            INVALID_VECTOR,
        )


def _check_keys(obj: dict, where: str) -> None:
    for key, value in obj.items():
        if not key or key.startswith("$") or "." in key or '"' in key:
            raise invalid(
                "invalid_vector",
                f"{where}: metadata key {key!r} is not allowed (keys must be non-empty, must not start "
                "with '$' and must not contain '.' or '\"')",
                INVALID_VECTOR,
            )
        if isinstance(value, dict):
            _check_keys(value, where)


_MISSING = object()


def lookup(metadata: dict | None, path: str) -> Any:
    """The value at a dotted path, or _MISSING."""
    node: Any = metadata
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def indexable_value(kind: str, value: Any) -> Any:
    """The value as a metadata index of `kind` stores it, or _MISSING if that index ignores it."""
    if kind == "string" and isinstance(value, str):
        return truncate_utf8(value)
    if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind == "boolean" and isinstance(value, bool):
        return value
    return _MISSING


_DTYPES = {"string": object, "number": np.float64, "boolean": bool}
_EMPTY = {"string": "", "number": 0.0, "boolean": False}


@dataclass
class MetadataColumn:
    """One metadata index held in memory: a typed value per slot and whether the slot has one. String
    columns also keep each value as an int32 code (-1: none), so equality and `$in` compare integers."""

    kind: str
    values: np.ndarray = field(init=False)
    present: np.ndarray = field(init=False)
    codes: np.ndarray | None = None  # string columns: code per slot
    code_of: dict[str, int] = field(default_factory=dict)  # string -> code (grows, never shrinks)

    def __post_init__(self) -> None:
        self.values = np.full(0, _EMPTY[self.kind], dtype=_DTYPES[self.kind])
        self.present = np.zeros(0, dtype=bool)
        if self.kind == "string" and self.codes is None:
            self.codes = np.full(len(self.present), -1, dtype=np.int32)

    def resize(self, capacity: int) -> None:
        old = len(self.present)
        if capacity <= old:
            return
        values = np.full(capacity, _EMPTY[self.kind], dtype=_DTYPES[self.kind])
        values[:old] = self.values
        present = np.zeros(capacity, dtype=bool)
        present[:old] = self.present
        if self.codes is not None:
            codes = np.full(capacity, -1, dtype=np.int32)
            codes[:old] = self.codes
            self.codes = codes
        self.values, self.present = values, present

    def set(self, slot: int, path: str, metadata: dict | None) -> None:
        value = indexable_value(self.kind, lookup(metadata, path))
        if value is _MISSING:
            self.clear(slot)
            self.values[slot] = _EMPTY[self.kind]
        else:
            self.present[slot] = True
            self.values[slot] = value
            if self.codes is not None:
                self.codes[slot] = self.code_of.setdefault(value, len(self.code_of))

    def clear(self, slot: int) -> None:
        self.present[slot] = False
        if self.codes is not None:
            self.codes[slot] = -1

    def equal(self, target: Any, size: int) -> np.ndarray:
        """Slots [0, size) whose value equals `target` (already coerced to the column's type)."""
        if self.codes is not None:
            code = self.code_of.get(target)
            if code is None:
                return np.zeros(size, dtype=bool)
            return self.codes[:size] == code
        return (self.values[:size] == target) & self.present[:size]


def indexed_metadata(metadata: dict | None, properties: list[tuple[str, str]]) -> dict:
    """`returnMetadata: indexed` for a vector that is indexed on `properties` (path, index type): those
    properties only, as their indexes hold them, nested again by the dots of their paths."""
    out: dict = {}
    for path, kind in properties:
        value = indexable_value(kind, lookup(metadata, path))
        if value is _MISSING:
            continue
        node = out
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out
