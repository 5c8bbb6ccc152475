"""The id of the request being served: made cheaply or taken from the caller, and visible to every log line
written while the request runs.

The id lives in a ContextVar rather than on an object passed around, because log records are made deep inside
code that never sees the request. Each request runs in its own asyncio task (its own copy of the context),
so a value set for one request is never seen by another.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar

REQUEST_ID: ContextVar[str | None] = ContextVar("kumo_request_id", default=None)

# Ids from callers are echoed in a response header and written to logs: only a short, plain token is taken,
# so a header can neither split a log line nor smuggle a second header.
_ACCEPTABLE = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")
INCOMING_HEADERS = (b"x-request-id", b"cf-ray")


def new_request_id() -> str:
    """16 hex characters, like the first part of Cloudflare's cf-ray (~0.3 µs)."""
    return os.urandom(8).hex()


def acceptable(value: bytes) -> str | None:
    """The caller's id if it is a plain token of at most 128 characters, else None (a new one is made)."""
    return value.decode("ascii") if _ACCEPTABLE.fullmatch(value) else None


def current_request_id() -> str | None:
    return REQUEST_ID.get()
