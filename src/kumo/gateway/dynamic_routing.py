"""Dynamic routes: a versioned graph of elements that picks the model for `model: "dynamic/<name>"`.

    start -> conditional (Mongo-like condition on metadata/body) -> true | false
          -> percentage ("10%", "50%", ..., else)            -> a branch at random
          -> rate_limit (count or USD per key per interval)   -> success | fallback
          -> model (provider, model, timeout, retries)       -> answers, or fallback on failure
          -> end

The graph is walked iteratively (a step budget guards against cycles)."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

from kumo.errors import InvalidRequest
from kumo.gateway.providers import PROVIDERS

TYPES = {"start", "conditional", "percentage", "rate_limit", "model", "end"}
MAX_STEPS = 64
OPS = {"$eq", "$ne", "$in", "$nin", "$lt", "$lte", "$gt", "$gte"}


def _target(output: Any) -> str | None:
    if isinstance(output, str):
        return output
    if isinstance(output, dict):
        target = output.get("elementId") or output.get("element_id")
        return target if isinstance(target, str) else None
    return None


def validate_elements(elements: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(elements, list) or not elements:
        raise InvalidRequest("`elements` must be a non-empty array")
    by_id: dict[str, dict[str, Any]] = {}
    for el in elements:
        if not isinstance(el, dict) or not isinstance(el.get("id"), str):
            raise InvalidRequest("each element needs a string `id`")
        if not isinstance(el.get("type"), str) or el["type"] not in TYPES:
            raise InvalidRequest(f"element {el['id']}: `type` must be one of {', '.join(sorted(TYPES))}")
        if el["id"] in by_id:
            raise InvalidRequest(f"element id {el['id']!r} is used twice")
        by_id[el["id"]] = el
    starts = [e for e in elements if e["type"] == "start"]
    if len(starts) != 1:
        raise InvalidRequest("a route needs exactly one `start` element")
    for el in elements:
        outputs = el.get("outputs") or {}
        if not isinstance(outputs, dict):
            raise InvalidRequest(f"element {el['id']}: `outputs` must be an object")
        for name, output in outputs.items():
            target = _target(output)
            if target is not None and target not in by_id:
                raise InvalidRequest(f"element {el['id']}: output {name!r} points to unknown element {target!r}")
        props = el.get("properties") or {}
        if not isinstance(props, dict):
            raise InvalidRequest(f"element {el['id']}: `properties` must be an object")
        if el["type"] == "model":
            if not isinstance(props.get("provider"), str) or props["provider"] not in PROVIDERS or not isinstance(props.get("model"), str):
                raise InvalidRequest(f"element {el['id']}: a model element needs a known `provider` and a `model`")
        elif el["type"] == "conditional":
            if not isinstance(props.get("condition"), dict) or not props["condition"]:
                raise InvalidRequest(f"element {el['id']}: a conditional needs a `condition` object")
        elif el["type"] == "percentage":
            branches = [k for k in outputs if k != "else"]
            if len(branches) > 5 or not all(k.endswith("%") for k in branches):
                raise InvalidRequest(f"element {el['id']}: percentage outputs are up to five \"N%\" plus \"else\"")
            try:
                total = sum(float(k[:-1]) for k in branches)
            except ValueError:
                raise InvalidRequest(f"element {el['id']}: percentages must be numbers") from None
            if total > 100:
                raise InvalidRequest(f"element {el['id']}: percentages add up to more than 100")
        elif el["type"] == "rate_limit":
            kind = props.get("limitType", "count")
            if kind not in ("count", "cost"):
                raise InvalidRequest(f"element {el['id']}: limitType must be `count` (requests) or `cost` (USD)")
            limit_ok = isinstance(props.get("limit"), int) or (kind == "cost" and isinstance(props.get("limit"), float))
            if not limit_ok or isinstance(props.get("limit"), bool) or not isinstance(props.get("interval"), int) \
                    or props["limit"] <= 0 or props["interval"] < 1:
                raise InvalidRequest(f"element {el['id']}: a rate_limit needs a positive `limit` (an integer for "
                                     "`count`, USD for `cost`) and an integer `interval` in seconds")
    return by_id


def _lookup(context: dict[str, Any], path: str) -> Any:
    node: Any = context
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def matches(condition: dict[str, Any], context: dict[str, Any]) -> bool:
    for key, test in condition.items():
        value = _lookup(context, key)
        ops = test if isinstance(test, dict) and test and set(test) <= OPS else {"$eq": test}
        for op, expected in ops.items():
            try:
                ok = {
                    "$eq": lambda: value == expected, "$ne": lambda: value != expected,
                    "$in": lambda: value in expected, "$nin": lambda: value not in expected,
                    "$lt": lambda: value is not None and value < expected,
                    "$lte": lambda: value is not None and value <= expected,
                    "$gt": lambda: value is not None and value > expected,
                    "$gte": lambda: value is not None and value >= expected,
                }[op]()
            except TypeError:
                ok = False
            if not ok:
                return False
    return True


async def walk(route: dict[str, Any], context: dict[str, Any],
               call_model: Callable[[str, dict[str, Any], str | None], Awaitable[Any]],
               hit_limit: Callable[[str, float, int, str, str], Awaitable[bool]], rng: random.Random,
               start: str | None = None) -> Any:
    """Returns the Outcome of the model element that answered, or the last failure. `call_model(element id,
    properties, fallback element id or None)` may return None for a model passed over (its fallback is next).
    `start`: walk on from that element (the fallback of a stream that broke; None when no model answered)."""
    elements = validate_elements(route["elements"])
    if start is None:
        current = _target((next(e for e in elements.values() if e["type"] == "start").get("outputs") or {}).get("next"))
    else:
        current = start
    last, passed_over = None, False
    for _ in range(MAX_STEPS):
        if current is None:
            break
        el = elements[current]
        outputs = el.get("outputs") or {}
        props = el.get("properties") or {}
        kind = el["type"]
        if kind == "end":
            break
        if kind == "conditional":
            current = _target(outputs.get("true" if matches(props["condition"], context) else "false"))
        elif kind == "percentage":
            draw, acc, chosen = rng.random() * 100, 0.0, outputs.get("else")
            for name, output in outputs.items():
                if name == "else":
                    continue
                acc += float(name[:-1])
                if draw < acc:
                    chosen = output
                    break
            current = _target(chosen)
        elif kind == "rate_limit":
            key_value = _lookup(context, props.get("key", "")) if props.get("key") else "all"
            key = f"{route['id']}/{el['id']}/{key_value}"
            allowed = await hit_limit(key, props["limit"], props["interval"], props.get("technique", "fixed"),
                                      props.get("limitType", "count"))
            current = _target(outputs.get("success" if allowed else "fallback"))
        elif kind == "model":
            fallback = _target(outputs.get("fallback"))
            # a fallback straight to the end is none: the model is the last one to try
            ahead = fallback if fallback is not None and elements[fallback]["type"] != "end" else None
            outcome = await call_model(el["id"], props, ahead)
            if outcome is not None and (outcome.ok or outcome.final):  # a content-policy refusal: not asked again
                return outcome
            passed_over = passed_over or outcome is None
            last = outcome or last
            current = fallback
        else:  # a second "start" cannot happen (validated); anything else ends the walk
            break
    if last is not None or start is not None or passed_over:
        return last
    raise InvalidRequest(f"dynamic route {route['name']!r} ended without reaching a model")
