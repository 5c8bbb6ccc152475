"""pgvector's namespace checks on a write: which of a batch's namespaces an index already holds (one index probe
per name, whatever the namespaces hold), and how many it holds."""

from __future__ import annotations

import numpy as np

from kumo.storage.migrate import upgrade_postgres
from kumo.storage.pg_vectors import PgVectorStore
from kumo.storage.postgres import PostgresDatabase
from kumo.vectorize.store import Mutation


def test_known_namespaces(pg_url, account):
    upgrade_postgres(pg_url)
    db = PostgresDatabase(pg_url)
    try:
        store = PgVectorStore(db)
        record = store.create_index(account, "names", None, 4, "cosine", None, "2026-12-04T00:00:00Z")
        names = ["a"] * 300 + ["b", "o'brien", None]
        ids = [f"v{i}" for i in range(len(names))]
        with store.locked(record.pk) as index:
            assert index is not None
            seq = index.bump(Mutation("m1", "2026-12-04T00:00:01Z"), added=len(ids))
            index.upsert(ids, np.ones((len(ids), 4), dtype=np.float32), names, [None] * len(ids), seq)
        with store.locked(record.pk) as index:
            assert index is not None
            assert index.known_namespaces({"a", "o'brien", "c", ""}) == {"a", "o'brien"}
            assert index.known_namespaces({"zzz"}) == set()
            assert index.namespace_count() == 3
    finally:
        db.close()
