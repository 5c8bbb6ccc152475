"""What a Vectorize engine does: the part of Vectorize that differs between backends.

`VectorizeService` validates requests, owns error codes and the index lifecycle, and reads vectors by
id; an engine applies writes (under its own lock, with `write_rules`) and answers queries. Two engines:
`EmbeddedEngine` (SQLite + an in-memory space per index, one process) and `PgVectorEngine` (PostgreSQL
+ pgvector, every read and write in SQL, so any number of kumo nodes share it). Platform picks one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np

from kumo.vectorize.batch import VectorBatch
from kumo.vectorize.filters import MetadataFilter
from kumo.vectorize.store import IndexRecord, Mutation


@dataclass(frozen=True)
class IndexStats:
    vector_count: int
    mutation_id: str | None
    mutation_at: str | None
    graph: tuple[int, int] | None = None  # (vectors in the ANN graph, vectors not yet in it); None: no graph of ours


class StaleRecord(Exception):
    """The index a query was given is gone (deleted, perhaps made again under the same name): look it up again."""


@dataclass(frozen=True)
class Search:
    """A validated query."""

    vector: np.ndarray  # float32, the index's dimensions
    top_k: int
    namespace: str | None = None
    filter: MetadataFilter | None = None
    return_values: bool = False
    return_metadata: str = "none"  # none | indexed | all


class Hit(NamedTuple):  # a tuple, not a frozen dataclass: ten are made per query, at a quarter of the cost
    id: str
    score: float
    namespace: str | None
    values: list[float] | None = None
    metadata: dict | None = None  # None when not asked for


class VectorEngine(Protocol):
    def start(self) -> None: ...
    def close(self) -> None: ...

    def drop_index(self, record: IndexRecord) -> None: ...
    def stats(self, record: IndexRecord) -> IndexStats: ...
    def known_record(self, account: str, name: str) -> IndexRecord | None: ...  # without a database read
    def record_for_query(self, account: str, name: str) -> IndexRecord | None: ...  # may be stale: StaleRecord

    def write(self, record: IndexRecord, batch: VectorBatch, upsert: bool, mutation: Mutation) -> None: ...
    def delete(self, record: IndexRecord, ids: list[str], mutation: Mutation) -> None: ...

    def create_metadata_index(self, record: IndexRecord, property_name: str, index_type: str,
                              mutation: Mutation) -> str | None: ...  # the mutation id to report
    def delete_metadata_index(self, record: IndexRecord, property_name: str,
                              mutation: Mutation) -> bool: ...  # False: there was none

    def query(self, record: IndexRecord, search: Search) -> list[Hit]: ...

    def vector_count(self) -> int: ...  # for the metrics gauge
    def wait_for_ann(self, record: IndexRecord, timeout: float) -> None: ...
