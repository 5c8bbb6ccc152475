"""When the pgvector engine builds an index's HNSW graph: once its writes pause, and, for an index written
without a pause, once it has waited `patience` seconds (the build is CONCURRENTLY: the writes go on). The store
is a stand-in that records builds; the builds themselves run against PostgreSQL in test_pg_bulk.py."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from kumo.vectorize.pg_engine import PgVectorEngine
from kumo.vectorize.space import AnnParams
from kumo.vectorize.store import IndexRecord


class Builds:
    def __init__(self, record: IndexRecord):
        self.record = record
        self.built: list[int] = []

    def graph_states(self):
        return [(self.record, True if self.built else None)]

    def build_graph(self, record, vectors):
        self.built.append(vectors)
        return True


def written_just_now(count: int) -> IndexRecord:
    now = datetime.now(timezone.utc).isoformat()
    return IndexRecord(1, "acct", "busy", None, 8, "cosine", None, now, now, "m", now, 1, count)


def test_an_index_written_without_a_pause_gets_its_graph_after_patience():
    store = Builds(written_just_now(5_000))
    engine = PgVectorEngine(store, AnnParams(threshold=1_000))  # type: ignore[arg-type]
    engine.build_due_graphs(quiet=60, patience=0.2)
    assert store.built == []  # writing, and not waited long enough
    time.sleep(0.25)
    store.record = written_just_now(5_500)  # still being written
    engine.build_due_graphs(quiet=60, patience=0.2)
    assert store.built == [5_500]


def test_a_pause_builds_at_once_and_small_indexes_never():
    store = Builds(written_just_now(5_000))
    engine = PgVectorEngine(store, AnnParams(threshold=1_000))  # type: ignore[arg-type]
    engine.build_due_graphs(quiet=0, patience=3600)
    assert store.built == [5_000]
    small = Builds(written_just_now(999))
    engine = PgVectorEngine(small, AnnParams(threshold=1_000))  # type: ignore[arg-type]
    engine.build_due_graphs(quiet=0, patience=0)
    assert small.built == []
