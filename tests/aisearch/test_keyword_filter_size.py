"""Keyword search under a metadata filter that lets 260,000 items through, on both SQL stores: the
allowed items go to the database as one parameter (one each ran into the limits: PostgreSQL takes 65,535
parameters, SQLite 32,766 by default and 250,000 as Debian builds it)."""

from __future__ import annotations

import pytest

from kumo.aisearch.store import NewChunk
from kumo.storage.sql_aisearch import SqlAiSearchStore
from tests.sql_databases import BACKENDS, sql_database

NOW = "2026-12-04T00:00:00Z"


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    db = sql_database(request, tmp_path, "aisearch")
    yield SqlAiSearchStore(db)
    db.close()


def test_a_filter_letting_260k_items_through(store, account):
    store.create_namespace(account, "default", None, NOW)
    instance = store.create_instance(account, "default", "docs", {}, None, NOW)
    pks = []
    for n, text in enumerate(["kumo runs offline", "kumo serves vectors", "nothing to see"]):
        item = store.put_item(instance.pk, f"i{n}", f"k{n}.txt", "builtin", str(n), 10, {}, text.encode(), "queued", NOW)
        store.replace_chunks(item.pk, [NewChunk(f"c{n}", 0, text, 0, len(text))], keyword="porter",
                             status="completed", error=None, index_signature="s", now=NOW)
        pks.append(item.pk)
    allowed = {pks[1], pks[2]} | set(range(10**7, 10**7 + 260_000))
    found = store.keyword_search(instance.pk, ["kumo"], "and", 10, allowed)
    assert [chunk for chunk, _ in found] == ["c1"]
    assert store.keyword_search(instance.pk, ["kumo"], "and", 10, None)  # no filter: both
    assert len(store.keyword_search(instance.pk, ["kumo"], "and", 10, None)) == 2
