"""A request's rows, checked against the model's signature and turned into the 2-D array it predicts on."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from kumo.errors import InvalidRequest

MAX_INSTANCES = 10_000


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidRequest(f"feature {where}: {value!r} is not a finite number", code=10026)
    return float(value)


def _row(row: Any, signature: dict[str, Any], index: int | None) -> list[float]:
    names, width = signature.get("features"), signature.get("n_features")
    at = "" if index is None else f" (instance {index})"
    if isinstance(row, dict):
        if names is None:
            raise InvalidRequest(f"this model does not name its features{at}; send them as a list of "
                                 f"{width if width else 'its'} numbers in the model's order", code=10026)
        unknown = [k for k in row if k not in names]
        if unknown:
            raise InvalidRequest(f"unknown feature {unknown[0]!r}{at}; the model's features are "
                                 f"{', '.join(names)}", code=10026)
        missing = [n for n in names if n not in row]
        if missing:
            raise InvalidRequest(f"missing feature {missing[0]!r}{at}; the model's features are "
                                 f"{', '.join(names)}", code=10026)
        return [_number(row[n], repr(n) + at) for n in names]
    if isinstance(row, list):
        if width is not None and len(row) != width:
            expected = f" ({', '.join(names)})" if names else ""
            raise InvalidRequest(f"{len(row)} features given{at}, the model takes {width}{expected}", code=10026)
        return [_number(v, (repr(names[i]) if names else f"#{i}") + at) for i, v in enumerate(row)]
    raise InvalidRequest(f"features{at} must be an object {{name: value}} or a list of values", code=10026)


def rows_of(inputs: Any, signature: dict[str, Any]) -> tuple[np.ndarray, bool]:
    """(rows, many): `{"features": ...}` is one row, `{"instances": [...]}` many."""
    if not isinstance(inputs, dict) or ("features" in inputs) == ("instances" in inputs):
        raise InvalidRequest('send {"features": {name: value}} or {"features": [values]} for one prediction, '
                             'or {"instances": [...]} for many', code=10026)
    extra = [k for k in inputs if k not in ("features", "instances")]
    if extra:
        raise InvalidRequest(f"unknown field {extra[0]!r}: a custom model takes \"features\" or \"instances\"",
                             code=10026)
    if "features" in inputs:
        return np.array([_row(inputs["features"], signature, None)], dtype=np.float64), False
    instances = inputs["instances"]
    if not isinstance(instances, list) or not instances:
        raise InvalidRequest("instances must be a non-empty list of rows", code=10026)
    if len(instances) > MAX_INSTANCES:
        raise InvalidRequest(f"{len(instances)} instances: at most {MAX_INSTANCES} per request", code=10026)
    return np.array([_row(r, signature, i) for i, r in enumerate(instances)], dtype=np.float64), True
