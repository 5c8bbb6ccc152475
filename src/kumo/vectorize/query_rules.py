"""The rules a read request follows (query options, ids, vectors, list cursors), with Cloudflare's limits."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import numpy as np

from kumo.vectorize.errors import INVALID_QUERY, invalid

MAX_TOP_K = 100
MAX_TOP_K_WITH_DATA = 50  # with returnValues or returnMetadata=all
MAX_IDS_PER_CALL = 1000
MAX_LIST_COUNT = 1000
RETURN_METADATA = ("none", "indexed", "all")
_NUMBER_TYPES = {int, float}


def query_error(message: str) -> Exception:
    return invalid("invalid_query", message, INVALID_QUERY)


@dataclass(frozen=True)
class QueryOptions:
    top_k: int = 5
    return_values: bool = False
    return_metadata: str | bool | None = "none"  # as sent; check_options reads it
    namespace: str | None = None
    filter: Any = None

    @classmethod
    def from_body(cls, body: dict) -> QueryOptions:
        """The options of a `query` request body (camelCase, Cloudflare's defaults)."""
        return cls(
            top_k=body.get("topK", 5),
            return_values=body.get("returnValues", False),
            return_metadata=body.get("returnMetadata", "none"),
            namespace=body.get("namespace"),
            filter=body.get("filter"),
        )


def check_ids(ids: Any) -> list[str]:
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise query_error("`ids` must be an array of strings")
    if not ids:
        raise query_error("`ids` must not be empty")
    if len(ids) > MAX_IDS_PER_CALL:
        raise query_error(f"at most {MAX_IDS_PER_CALL} ids per call")
    return ids


def check_vector(vector: Any, dims: int) -> np.ndarray:
    if not isinstance(vector, list):
        raise query_error("`vector` must be an array of numbers (or give `vectorId`)")
    if len(vector) != dims:
        raise query_error(f"query vector has {len(vector)} dimensions; the index expects {dims}")
    if not set(map(type, vector)) <= _NUMBER_TYPES:  # bool is not a number here
        raise query_error("`vector` must contain only numbers")
    arr = np.asarray(vector, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise query_error("`vector` must contain only finite numbers")
    return arr


def check_options(options: QueryOptions) -> tuple[int, str]:
    rm = options.return_metadata
    if rm is True:
        rm = "all"
    elif rm is False or rm is None:
        rm = "none"
    if rm not in RETURN_METADATA:
        raise query_error("`returnMetadata` must be one of none, indexed, all")
    if not isinstance(options.return_values, bool):
        raise query_error("`returnValues` must be a boolean")
    top_k = options.top_k
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise query_error("`topK` must be a positive integer")
    cap = MAX_TOP_K_WITH_DATA if (options.return_values or rm == "all") else MAX_TOP_K
    if top_k > cap:
        raise query_error(
            f"topK is {top_k}; the limit is {cap}"
            + (" when returnValues is true or returnMetadata is 'all'" if cap == MAX_TOP_K_WITH_DATA else "")
        )
    return top_k, rm


def encode_cursor(after: str) -> str:
    return base64.urlsafe_b64encode(after.encode()).decode().rstrip("=")


def decode_cursor(cursor: Any) -> str:
    if not isinstance(cursor, str):
        raise query_error("`cursor` must be a string")
    try:
        return base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise query_error("`cursor` is not a cursor this index gave out") from None
