"""The logs API's query language (`GET/DELETE .../logs`): plain parameters and the SDK's repeated
`filters.key/operator/value` triples, parsed into storage-neutral conditions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kumo.api.body import JsonRefused, loads
from kumo.errors import InvalidRequest
from kumo.timestamps import parse_iso

NUMBER_KEYS = {"cost", "tokens_in", "tokens_out", "total_tokens", "duration", "feedback", "status_code", "step",
               "score", "tokens"}
BOOL_KEYS = {"success", "cached", "custom_cost"}
TEXT_KEYS = {"id", "provider", "model", "model_type", "path", "event_id", "request_content_type",
             "response_content_type", "request_type"}
DATE_KEYS = {"created_at"}
META_KEYS = {"metadata.key", "metadata.value"}
ALL_KEYS = NUMBER_KEYS | BOOL_KEYS | TEXT_KEYS | DATE_KEYS | META_KEYS
OPERATORS = {"eq", "neq", "contains", "lt", "gt", "lte", "gte"}
ORDER_KEYS = {"created_at", "provider", "model", "model_type", "success", "cached", "cost", "duration",
              "tokens_in", "tokens_out"}


@dataclass(frozen=True)
class Condition:
    key: str
    op: str
    values: tuple[Any, ...]


@dataclass
class LogQuery:
    conditions: list[Condition] = field(default_factory=list)
    search: str | None = None
    order_by: str = "created_at"
    direction: str = "desc"
    page: int = 1
    per_page: int = 20
    limit: int | None = None  # DELETE: at most this many


def _coerce(key: str, value: Any) -> Any:
    if key == "tokens":
        key = "total_tokens"
    if key in NUMBER_KEYS:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise InvalidRequest(f"filter on {key} needs a number, got {value!r}") from None
    if key in BOOL_KEYS:
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise InvalidRequest(f"filter on {key} needs true or false, got {value!r}")
    if key in DATE_KEYS:
        try:
            parse_iso(str(value))
        except ValueError:
            raise InvalidRequest(f"filter on {key} needs an ISO-8601 date, got {value!r}") from None
        return str(value)
    return str(value)


def _condition(key: str, op: str, values: list[Any]) -> Condition:
    if key not in ALL_KEYS:
        raise InvalidRequest(f"unknown log filter key {key!r}; use one of {', '.join(sorted(ALL_KEYS))}")
    if op not in OPERATORS:
        raise InvalidRequest(f"unknown filter operator {op!r}; use eq, neq, contains, lt, gt")
    if not values:
        raise InvalidRequest(f"filter on {key} has no value")
    column = "total_tokens" if key == "tokens" else key
    return Condition(column, op, tuple(_coerce(key, v) for v in values))


def _int(params: Any, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"`{name}` must be an integer") from None
    if not low <= value <= high:
        raise InvalidRequest(f"`{name}` must be from {low} to {high}")
    return value


def parse_log_query(params: Any) -> LogQuery:
    """`params` is a multi-dict (starlette QueryParams)."""
    q = LogQuery()
    keys, ops, values = params.getlist("filters.key"), params.getlist("filters.operator"), params.getlist("filters.value")
    if keys or ops or values:
        if not (len(keys) == len(ops) == len(values)):
            raise InvalidRequest("filters.key, filters.operator and filters.value must come in triples")
        for key, op, value in zip(keys, ops, values):
            q.conditions.append(_condition(key, op, [value]))
    if params.get("filters"):
        try:
            items = loads(params["filters"])
        except JsonRefused as exc:
            raise InvalidRequest(f"`filters` must be a JSON array of {{key, operator, value}}: {exc.reason}") from None
        for item in items if isinstance(items, list) else []:
            value = item.get("value")
            q.conditions.append(_condition(item.get("key"), item.get("operator"),
                                           value if isinstance(value, list) else [value]))
    for key in ("provider", "model", "model_type", "request_content_type", "response_content_type"):
        if params.get(key) is not None:
            q.conditions.append(_condition(key, "eq", [params[key]]))
    for key in ("success", "cached", "feedback"):
        if params.get(key) is not None:
            q.conditions.append(_condition(key, "eq", [params[key]]))
    for key in ("cost", "duration", "tokens_in", "tokens_out", "total_tokens"):
        if params.get(f"min_{key}") is not None:
            q.conditions.append(_condition(key, "gte", [params[f"min_{key}"]]))
        if params.get(f"max_{key}") is not None:
            q.conditions.append(_condition(key, "lte", [params[f"max_{key}"]]))
    if params.get("start_date"):
        q.conditions.append(_condition("created_at", "gte", [params["start_date"]]))
    if params.get("end_date"):
        q.conditions.append(_condition("created_at", "lte", [params["end_date"]]))
    q.search = params.get("search") or None
    q.order_by = params.get("order_by", "created_at")
    if q.order_by not in ORDER_KEYS:
        raise InvalidRequest(f"`order_by` must be one of {', '.join(sorted(ORDER_KEYS))}")
    q.direction = (params.get("order_by_direction") or params.get("direction") or "desc").lower()
    if q.direction not in ("asc", "desc"):
        raise InvalidRequest("`order_by_direction` must be asc or desc")
    q.page = _int(params, "page", 1, 1, 1_000_000)
    q.per_page = _int(params, "per_page", 20, 1, 50)
    if params.get("limit") is not None:
        q.limit = _int(params, "limit", 0, 1, 10_000_000)
    return q
