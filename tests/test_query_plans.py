"""Queries that run on a timer, per request or per scrape are answered through an index on SQLite, never by
reading every row of a table that only grows (jobs kept once done, cache entries, AI Search's history)."""

from __future__ import annotations

import sqlite3

import pytest

from kumo.storage.migrate import upgrade_sqlite

QUERIES = [
    ("cache", "DELETE FROM cache WHERE expires_at <= 1"),
    ("aisearch", "SELECT 1 FROM aisearch_jobs WHERE instance_pk = 1 AND started_at > 'x'"),
    ("aisearch", "DELETE FROM aisearch_cache WHERE instance_pk = 1 AND expires_at <= 1"),
    ("aisearch", "SELECT chunk_id FROM aisearch_chunks WHERE instance_pk = 1"),
    ("custom_models", "SELECT id, compose_attempts FROM scoring_jobs WHERE status = 'composing' AND"
                      " (lease_owner IS NULL OR lease_until < 1) ORDER BY created LIMIT 1"),
    ("custom_models", "SELECT count(*) FROM scoring_jobs WHERE status IN ('running', 'composing')"),
    ("batches", "SELECT count(*) FROM ai_batch_jobs WHERE status IN ('queued', 'running')"),
]


@pytest.mark.parametrize("branch, query", QUERIES)
def test_answered_through_an_index(tmp_path, branch, query):
    path = tmp_path / f"{branch}.sqlite3"
    upgrade_sqlite(path, branch)
    with sqlite3.connect(path) as conn:
        plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + query))
    assert "INDEX" in plan and "SCAN" not in plan, plan
