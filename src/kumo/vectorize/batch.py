"""An insert/upsert batch: decoding every body encoding real clients send, then validating it whole.

Encodings (docs/cloudflare-api.md §B.3): raw NDJSON with any content type; a JSON string literal whose
content is NDJSON (what the `cloudflare` SDK sends); `{"vectors": [...]}` or a JSON array (binding
style); multipart with a `vectors` part (wrangler; the route extracts the part). A batch with one bad
line is rejected whole with the line number, unless `discard` asks to drop bad lines instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kumo.api.body import JsonRefused, loads  # orjson under limits: NDJSON decoding is most of an insert's cost
from kumo.vectorize.errors import INVALID_VECTOR, NDJSON_PARSE, invalid
from kumo.vectorize.metadata import check_metadata

MAX_BATCH = 5000
MAX_ID_BYTES = 64
MAX_NAMESPACE_BYTES = 64


@dataclass
class VectorBatch:
    ids: list[str]
    values: np.ndarray  # (n, dims) float32
    namespaces: list[str | None]
    metadatas: list[dict | None]

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, keep: list[int]) -> VectorBatch:
        return VectorBatch(
            [self.ids[i] for i in keep],
            self.values[keep],
            [self.namespaces[i] for i in keep],
            [self.metadatas[i] for i in keep],
        )


class _BadLine(Exception):
    def __init__(self, line: int, message: str, code: int):
        self.line, self.message, self.code = line, message, code


def decode_body(body: bytes) -> list[tuple[int, Any]]:
    """(line number, decoded JSON or the exception it raised) per non-blank item."""
    text = body.decode("utf-8", errors="replace").lstrip("\ufeff")
    stripped = text.strip()
    if not stripped:
        return []
    if stripped[0] in '"[' or stripped.startswith('{"vectors"'):
        try:
            whole = loads(stripped)
        except JsonRefused:
            whole = None
        if isinstance(whole, str):
            return decode_body(whole.encode())
        if isinstance(whole, list):
            return list(enumerate(whole, start=1))
        if isinstance(whole, dict) and isinstance(whole.get("vectors"), list):
            return list(enumerate(whole["vectors"], start=1))
    items: list[tuple[int, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append((number, loads(line)))
        except JsonRefused as exc:
            items.append((number, exc))
    return items


def _check_item(number: int, item: Any) -> tuple[str, list, str | None, dict | None]:
    if isinstance(item, Exception):
        raise _BadLine(number, f"line {number} is not valid JSON ({item})", NDJSON_PARSE)
    if not isinstance(item, dict):
        raise _BadLine(number, f"line {number} must be a JSON object with `id` and `values`", NDJSON_PARSE)
    vid = item.get("id")
    if not isinstance(vid, str) or not vid:
        raise _BadLine(number, f"line {number}: `id` must be a non-empty string", INVALID_VECTOR)
    if len(vid.encode()) > MAX_ID_BYTES:
        raise _BadLine(number, f"line {number}: id is longer than {MAX_ID_BYTES} bytes", INVALID_VECTOR)
    values = item.get("values")
    if not isinstance(values, list):
        raise _BadLine(number, f"line {number}: `values` must be an array of numbers (id {vid!r})", INVALID_VECTOR)
    namespace = item.get("namespace")
    if namespace is not None:
        if not isinstance(namespace, str) or not namespace:
            raise _BadLine(number, f"line {number}: `namespace` must be a non-empty string", INVALID_VECTOR)
        if len(namespace.encode()) > MAX_NAMESPACE_BYTES:
            raise _BadLine(
                number, f"line {number}: namespace is longer than {MAX_NAMESPACE_BYTES} bytes", INVALID_VECTOR
            )
    metadata = item.get("metadata")
    if metadata is not None:
        try:
            check_metadata(metadata, f"line {number}")
        except Exception as exc:  # KumoError with our message
            raise _BadLine(number, str(getattr(exc, "message", exc)), INVALID_VECTOR) from None
    return vid, values, namespace, metadata


_NUMBER_TYPES = {float, int}


def _values_problem(values: list, dims: int) -> str | None:
    if len(values) != dims:
        return f"has {len(values)} dimensions; the index expects {dims}"
    if not set(map(type, values)) <= _NUMBER_TYPES:  # bool is not a number here
        bad = next(v for v in values if type(v) not in _NUMBER_TYPES)
        return f"has a value that is not a number ({bad!r})"
    return None


def parse_batch(body: bytes, dims: int, *, discard_bad: bool = False) -> VectorBatch:
    """A batch from an HTTP body in any of the encodings above."""
    return parse_items(decode_body(body), dims, discard_bad=discard_bad)


def parse_items(items: list[tuple[int, Any]], dims: int, *, discard_bad: bool = False) -> VectorBatch:
    """A batch from decoded items `(line number, object)`; all valid, or an error naming the line."""
    if not items:
        raise invalid("upstream_error", "the request has no vectors (expected NDJSON lines)", NDJSON_PARSE)
    if len(items) > MAX_BATCH:
        raise invalid(
            "invalid_vector", f"{len(items)} vectors in one request; the limit is {MAX_BATCH}", INVALID_VECTOR
        )
    ids, rows, namespaces, metadatas = [], [], [], []
    for number, item in items:
        try:
            vid, values, namespace, metadata = _check_item(number, item)
            problem = _values_problem(values, dims)
            if problem is not None:
                raise _BadLine(number, f"line {number}: vector {vid!r} {problem}", INVALID_VECTOR)
        except _BadLine as bad:
            if discard_bad:
                continue
            kind = "upstream_error" if bad.code == NDJSON_PARSE else "invalid_vector"
            raise invalid(kind, f"failed to parse vectors: {bad.message}", bad.code) from None
        ids.append(vid)
        rows.append(values)
        namespaces.append(namespace)
        metadatas.append(metadata)
    with np.errstate(over="ignore"):
        matrix = np.array(rows, dtype=np.float32).reshape(len(rows), dims)
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        if not discard_bad:
            first = int(np.flatnonzero(~finite)[0])
            raise invalid(
                "invalid_vector", f"vector {ids[first]!r} has a value outside float32's range", INVALID_VECTOR
            )
        return VectorBatch(ids, matrix, namespaces, metadatas).subset(np.flatnonzero(finite).tolist())
    return VectorBatch(ids, matrix, namespaces, metadatas)
