"""The metadata filter language of Vectorize queries: parsing, validation and evaluation.

`{"genre": "drama", "year": {"$gte": 1990, "$lt": 2000}, "meta.lang": {"$in": ["en", "fr"]}}`

Keys are ANDed. A dot in a key always means nesting. A key with no metadata index behaves as if no
vector had that property (Cloudflare only filters on indexed properties). Like MongoDB, `$ne` and
`$nin` also match vectors that lack the property, and `{"$eq": null}` matches exactly those.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from kumo.vectorize.errors import INVALID_FILTER, invalid
from kumo.vectorize.metadata import MetadataColumn, truncate_utf8

EQUALITY_OPS = ("$eq", "$ne")
SET_OPS = ("$in", "$nin")
LOWER_OPS = ("$gt", "$gte")
UPPER_OPS = ("$lt", "$lte")
ALL_OPS = EQUALITY_OPS + SET_OPS + LOWER_OPS + UPPER_OPS
MAX_FILTER_BYTES = 2048
MAX_KEY_CHARS = 512

Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class Condition:
    key: str
    op: str
    value: Any


def _bad(message: str) -> Exception:
    return invalid("invalid_filter", message, INVALID_FILTER)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _check_key(key: str) -> None:
    if not key:
        raise _bad("filter keys must not be empty")
    if len(key) > MAX_KEY_CHARS:
        raise _bad(f"filter key is longer than {MAX_KEY_CHARS} characters")
    if key.startswith("$"):
        raise _bad(f"filter key {key!r} must not start with '$' (no $and/$or: several keys are ANDed)")
    if '"' in key:
        raise _bad(f"filter key {key!r} must not contain a double quote")
    if any(not part for part in key.split(".")):
        raise _bad(f"filter key {key!r} has an empty segment between dots")


def _check_ops(key: str, ops: dict[str, Any]) -> list[Condition]:
    if not ops:
        raise _bad(f"operator object for {key!r} is empty")
    unknown = [op for op in ops if op not in ALL_OPS]
    if unknown:
        raise _bad(f"unsupported operator {unknown[0]!r} on {key!r}; use one of {', '.join(ALL_OPS)}")
    names = set(ops)
    is_range_pair = len(names) == 2 and names & set(LOWER_OPS) and names & set(UPPER_OPS)
    if len(names) > 1 and not is_range_pair:
        raise _bad(
            f"operators {sorted(names)} cannot be combined on {key!r}; only one lower bound ($gt/$gte) "
            "with one upper bound ($lt/$lte) may be"
        )
    conditions = []
    for op, value in ops.items():
        if op in EQUALITY_OPS:
            if not _is_scalar(value):
                raise _bad(f"{op} on {key!r} takes a string, number, boolean or null")
        elif op in SET_OPS:
            if not isinstance(value, list) or not value:
                raise _bad(f"{op} on {key!r} takes a non-empty array")
            if not all(v is not None and _is_scalar(v) for v in value):
                raise _bad(f"{op} on {key!r} takes an array of strings, numbers or booleans")
        else:
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise _bad(f"{op} on {key!r} takes a string or a number")
        conditions.append(Condition(key, op, value))
    return conditions


@dataclass(frozen=True)
class MetadataFilter:
    conditions: tuple[Condition, ...]

    @classmethod
    def parse(cls, raw: Any) -> MetadataFilter | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise _bad("filter must be a JSON object")
        if not raw:
            raise _bad("filter must not be empty")
        size = len(json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode())
        if size >= MAX_FILTER_BYTES:
            raise _bad(f"filter is {size} bytes as compact JSON; the limit is {MAX_FILTER_BYTES - 1}")
        conditions: list[Condition] = []
        for key, value in raw.items():
            _check_key(key)
            if isinstance(value, dict):
                conditions.extend(_check_ops(key, value))
            elif _is_scalar(value):
                conditions.append(Condition(key, "$eq", value))
            else:
                raise _bad(f"value of {key!r} must be a string, number, boolean, null or an operator object")
        return cls(tuple(conditions))

    def mask(self, columns: dict[str, MetadataColumn], size: int) -> np.ndarray:
        """Boolean mask over slots [0, size) of the vectors that match every condition."""
        result = np.ones(size, dtype=bool)
        for cond in self.conditions:
            column = columns.get(cond.key)
            result &= _evaluate(cond, column, size)
            if not result.any():
                break
        return result


def _evaluate(cond: Condition, column: MetadataColumn | None, size: int) -> np.ndarray:
    present = column.present[:size] if column is not None else np.zeros(size, dtype=bool)
    op, value = cond.op, cond.value
    if op == "$eq" and value is None:
        return ~present
    if op == "$ne" and value is None:
        return present.copy()
    if op in ("$eq", "$ne"):
        hit = _equal(column, value, size)
        return hit if op == "$eq" else ~hit
    if op in ("$in", "$nin"):
        hit = np.zeros(size, dtype=bool)
        for item in value:
            hit |= _equal(column, item, size)
        return hit if op == "$in" else ~hit
    return _compare(column, op, value, size)


def _coerce(column: MetadataColumn, value: Any) -> Any:
    """The filter value as the column stores it, or None if it can never match that column."""
    kind = column.kind
    if kind == "string":
        return truncate_utf8(value) if isinstance(value, str) else None
    if kind == "number":
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    return value if isinstance(value, bool) else None


def _equal(column: MetadataColumn | None, value: Any, size: int) -> np.ndarray:
    if column is None:
        return np.zeros(size, dtype=bool)
    target = _coerce(column, value)
    if target is None:
        return np.zeros(size, dtype=bool)
    return column.equal(target, size)


def _compare(column: MetadataColumn | None, op: str, value: Any, size: int) -> np.ndarray:
    if column is None or column.kind == "boolean":
        return np.zeros(size, dtype=bool)
    target = _coerce(column, value)
    if target is None:
        return np.zeros(size, dtype=bool)
    values = column.values[:size]
    present = column.present[:size]
    if op == "$lt":
        hit = values < target
    elif op == "$lte":
        hit = values <= target
    elif op == "$gt":
        hit = values > target
    else:
        hit = values >= target
    return np.asarray(hit, dtype=bool) & present
