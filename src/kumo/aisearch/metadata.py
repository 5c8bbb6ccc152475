"""Item metadata: the built-in attributes (filename, folder, timestamp in ms), custom fields typed by the
instance's `custom_metadata` schema, the Vectorize metadata indexes that make them filterable, and the same
filter language evaluated on an item's metadata (for keyword retrieval, which does not go through Vectorize).
Semantics match Vectorize's filters (kumo.vectorize.filters): typed comparisons, `$ne`/`$nin` match items that
lack the field, `{"$eq": null}` matches exactly those."""

from __future__ import annotations

from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from kumo.aisearch.errors import bad_config
from kumo.api.body import JsonRefused, loads
from kumo.timestamps import parse_iso
from kumo.vectorize.filters import Condition, MetadataFilter
from kumo.vectorize.metadata import _MISSING, indexable_value

BUILT_IN = {"filename": "string", "folder": "string", "timestamp": "number"}
_INDEX_TYPE = {"text": "string", "number": "number", "boolean": "boolean", "datetime": "string"}
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


def index_types(config: dict[str, Any]) -> dict[str, str]:
    """Property -> Vectorize metadata index type, for every filterable field of an instance."""
    types = dict(BUILT_IN)
    for field in config.get("custom_metadata") or []:
        types[field["field_name"]] = _INDEX_TYPE[field["data_type"]]
    return types


def built_in(key: str, timestamp_ms: int) -> dict[str, Any]:
    parent = str(PurePosixPath(key).parent)
    return {"filename": key, "folder": "" if parent == "." else parent + "/", "timestamp": int(timestamp_ms)}


def parse_custom(raw: Any, config: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Custom metadata from an upload (a JSON object, or its JSON text) -> (typed values, warnings).
    Fields outside the schema or with values of the wrong type are kept out of the index, with a warning,
    as Cloudflare does."""
    if raw in (None, ""):
        return {}, []
    if isinstance(raw, str):
        try:
            raw = loads(raw)
        except JsonRefused as exc:
            raise bad_config(f"`metadata` must be a JSON object: {exc.reason}") from None
    if not isinstance(raw, dict):
        raise bad_config("`metadata` must be a JSON object of field -> value")
    schema = {f["field_name"]: f["data_type"] for f in config.get("custom_metadata") or []}
    values, warnings = {}, []
    for name, value in raw.items():
        kind = schema.get(name)
        if kind is None:
            warnings.append({"code": "custom_metadata_field_not_filterable", "field": name})
            continue
        typed = _typed(kind, value)
        if typed is _MISSING:
            warnings.append({"code": "custom_metadata_value_not_indexed", "field": name, "expected_type": kind})
            continue
        values[name] = typed
    return values, warnings


def _typed(kind: str, value: Any) -> Any:
    if kind == "text":
        return value[:500] if isinstance(value, str) else _MISSING
    if kind == "number":
        if isinstance(value, bool):
            return _MISSING
        try:
            return float(value)
        except (TypeError, ValueError):
            return _MISSING
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        return True if text in _TRUE else False if text in _FALSE else _MISSING
    if isinstance(value, str):  # datetime: ISO 8601, kept as text so comparisons sort in time order
        try:
            parse_iso(value)
        except ValueError:
            return _MISSING
        return value
    return _MISSING


def matches(metadata_filter: MetadataFilter | None, metadata: dict[str, Any], types: dict[str, str]) -> bool:
    if metadata_filter is None:
        return True
    return all(_condition(c, metadata, types) for c in metadata_filter.conditions)


def _condition(cond: Condition, metadata: dict[str, Any], types: dict[str, str]) -> bool:
    kind = types.get(cond.key)
    value = indexable_value(kind, metadata[cond.key]) if kind and cond.key in metadata else _MISSING
    present = value is not _MISSING
    op, target = cond.op, cond.value
    if op in ("$eq", "$ne") and target is None:
        return (not present) if op == "$eq" else present
    if op in ("$eq", "$ne"):
        hit = present and _equal(kind, value, target)
        return hit if op == "$eq" else not hit
    if op in ("$in", "$nin"):
        hit = present and any(_equal(kind, value, t) for t in target)
        return hit if op == "$in" else not hit
    if not present or not kind or kind == "boolean":  # present: the key has a type
        return False
    target = indexable_value(kind, target)
    if target is _MISSING:
        return False
    return {"$lt": value < target, "$lte": value <= target, "$gt": value > target, "$gte": value >= target}[op]


def _equal(kind: str | None, value: Any, target: Any) -> bool:
    typed = indexable_value(kind, target) if kind else _MISSING
    return typed is not _MISSING and typed == value
