"""Vectorize's error codes. Cloudflare's where known (3000, 3002, 40005, 40023, 40026); the rest are ours
and keep Cloudflare's `vectorize.<kind> - <message>` wording."""

from __future__ import annotations

from kumo.errors import InvalidRequest, NotFound

INDEX_NOT_FOUND = 3000
DUPLICATE_INDEX = 3002
INVALID_INDEX_CONFIG = 3003
METADATA_INDEX_NOT_FOUND = 40005
INVALID_VECTOR = 40007
INVALID_QUERY = 40008
INVALID_FILTER = 40009
TOO_MANY_METADATA_INDEXES = 40010
NDJSON_PARSE = 40023
UNKNOWN_CONTENT_TYPE = 40026


def index_not_found(name: str) -> NotFound:
    return NotFound(f'vectorize.index.not_found - Index name "{name}" not found', code=INDEX_NOT_FOUND)


def invalid(kind: str, message: str, code: int) -> InvalidRequest:
    return InvalidRequest(f"vectorize.{kind} - {message}", code=code)
