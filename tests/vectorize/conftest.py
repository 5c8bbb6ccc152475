"""Vectorize tests run on both backends: `server` (behind `cf` and `http`) is the root conftest's
`backend_server`, once embedded (SQLite) and once on PostgreSQL + pgvector. Tests of the embedded
engine's internals (space, snapshots) take neither and run once."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture(scope="session")
def server(backend_server):
    return backend_server


@pytest.fixture(params=["sqlite", "postgres"])
def backend_env(request) -> dict[str, str]:
    """Environment for a `kumo serve` of a test's own on each backend ({} is embedded)."""
    return {"KUMO_DATABASE_URL": request.getfixturevalue("pg_url")} if request.param == "postgres" else {}


@pytest.fixture(params=["sqlite", "postgres"])
def backend_settings(request) -> dict:
    """Settings for an in-process `kumo.Env` on each backend, with an account of its own (the PostgreSQL
    database is shared by the session)."""
    settings: dict = {"account_id": "env-" + uuid.uuid4().hex[:10]}
    if request.param == "postgres":
        settings["database_url"] = request.getfixturevalue("pg_url")
    return settings
