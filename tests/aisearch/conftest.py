"""AI Search tests run on both backends: `server` (behind `cf` and `http`) is the root conftest's
`backend_server`, once embedded (SQLite, FTS5) and once on PostgreSQL (tsvector). Tests whose storage path
is the same as a parametrized one's and whose cost is the LLM (chat, the CLI's `ask`) pin it to SQLite with
`helpers.ON_SQLITE_ONLY`; tests that start a kumo of their own run once."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def server(backend_server):
    return backend_server
