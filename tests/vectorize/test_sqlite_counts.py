"""The embedded store counts an index's vectors once per change, not on every page of a listing: the count is
kept with the index's seq, which every write bumps."""

from __future__ import annotations

from kumo.storage.sqlite_vectors import SqliteVectorStore
from kumo.vectorize.store import Mutation, StoredVector


def test_a_listing_counts_once_per_change(tmp_path):
    store = SqliteVectorStore(tmp_path / "v.sqlite3")
    counted: list[str] = []
    store.db._conn.set_trace_callback(lambda sql: counted.append(sql) if "count(*)" in sql else None)
    record = store.create_index("acct", "idx", None, 2, "cosine", None, "2026-12-04T00:00:00Z")
    vectors = [StoredVector(f"v{i:03d}", None, b"\0" * 8, None, 0) for i in range(250)]
    store.write_vectors(record.pk, vectors, Mutation("m1", "2026-12-04T00:00:01Z"))

    def pages() -> list[int]:
        totals, after = [], None
        while True:
            ids, total = store.list_ids(record.pk, after, 100)
            totals.append(total)
            if len(ids) < 100:
                return totals
            after = ids[-1]

    assert pages() == [250, 250, 250] and len(counted) == 1
    store.delete_vectors(record.pk, ["v000", "v001"], Mutation("m2", "2026-12-04T00:00:02Z"))
    assert pages() == [248, 248, 248] and len(counted) == 2
    store.write_vectors(record.pk, vectors[:5], Mutation("m3", "2026-12-04T00:00:03Z"))  # 2 come back
    assert store.count_vectors(record.pk) == 250 and len(counted) == 3
    store.delete_index(record.pk)
    assert store.count_vectors(record.pk) == 0
    store.db.close()
