"""The pgvector engine: every read and write is SQL on PostgreSQL (`kumo.storage.pg_vectors`), so any
number of kumo nodes serve the same indexes and nothing lives in a node's memory.

Unfiltered queries on an index of at least `AnnParams.threshold` vectors walk the index's HNSW graph
(`hnsw.ef_search` from AnnParams); smaller indexes and queries with a namespace or a metadata filter
scan exactly, so they return the true top-K like the embedded engine. Either way the candidates are
re-scored in float64 (`scores.py`): pgvector's float32 distances pick, Cloudflare's scores rank.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

import numpy as np

from kumo.vectorize import write_rules
from kumo.vectorize.batch import VectorBatch
from kumo.vectorize.engine import Hit, IndexStats, Search
from kumo.vectorize.errors import index_not_found
from kumo.vectorize.filters import MetadataFilter
from kumo.vectorize.metadata import indexed_metadata
from kumo.vectorize.scores import best_first, exact_scores
from kumo.vectorize.space import AnnParams
from kumo.vectorize.store import IndexRecord, MetadataIndexRecord, Mutation


class LockedIndex(Protocol):
    """What a writer may do while holding one index's row lock (`kumo.storage.pg_vectors` implements it)."""

    record: IndexRecord

    def stored_ids(self, ids: list[str]) -> set[str]: ...
    def known_namespaces(self, names: set[str]) -> set[str]: ...
    def namespace_count(self) -> int: ...
    def bump(self, mutation: Mutation, added: int = 0) -> int: ...
    def upsert(self, ids: list[str], values: np.ndarray, namespaces: list[str | None],
               metadatas: list[dict | None], seq: int) -> None: ...
    def delete(self, ids: list[str]) -> int: ...
    def metadata_indexes(self) -> list[MetadataIndexRecord]: ...
    def add_metadata_index(self, property_name: str, index_type: str, seq: int) -> None: ...
    def drop_metadata_index(self, property_name: str) -> bool: ...


class SqlVectors(Protocol):
    """The SQL side this engine drives: declared here so vectorize depends on no concrete storage class."""

    def total_vectors(self) -> int: ...
    def delete_index(self, pk: int) -> None: ...
    def locked(self, pk: int) -> AbstractContextManager[LockedIndex | None]: ...
    def search(
        self, record: IndexRecord, vector: np.ndarray, limit: int, *, exact: bool, ef_search: int,
        namespace: str | None = None, metadata_filter: MetadataFilter | None = None, with_metadata: bool = False,
    ) -> tuple[list[tuple], list[MetadataIndexRecord]]: ...


class PgVectorEngine:
    def __init__(self, store: SqlVectors, ann: AnnParams | None = None):
        self.store = store
        self.ann = ann or AnnParams()

    def start(self) -> None:
        pass  # PostgreSQL maintains the graphs as rows are written

    def close(self) -> None:
        pass

    def vector_count(self) -> int:
        return self.store.total_vectors()

    def wait_for_ann(self, record: IndexRecord, timeout: float = 600) -> None:
        pass  # a write returns once its vectors are in the HNSW index

    def drop_index(self, record: IndexRecord) -> None:
        self.store.delete_index(record.pk)

    def stats(self, record: IndexRecord) -> IndexStats:
        return IndexStats(record.vector_count or 0, record.mutation_id, record.mutation_at)

    @contextmanager
    def _locked(self, record: IndexRecord) -> Iterator[LockedIndex]:
        with self.store.locked(record.pk) as index:
            if index is None:  # deleted since the request looked it up
                raise index_not_found(record.name)
            yield index

    # ---- writes ---------------------------------------------------------------------------
    def write(self, record: IndexRecord, batch: VectorBatch, upsert: bool, mutation: Mutation) -> None:
        with self._locked(record) as index:
            stored = index.stored_ids(batch.ids)
            keep = write_rules.rows_to_write(batch.ids, upsert=upsert, stored=stored.__contains__)
            batch = batch.subset(keep) if len(keep) != len(batch) else batch
            new_ids = sum(1 for vid in batch.ids if vid not in stored)
            write_rules.check_vector_count(index.record.vector_count or 0, new_ids)
            named = {ns for ns in batch.namespaces if ns is not None}
            if named:
                fresh = named - index.known_namespaces(named)
                if fresh:
                    write_rules.check_namespace_count(index.namespace_count(), len(fresh))
            seq = index.bump(mutation, added=new_ids)
            if len(batch):
                index.upsert(batch.ids, batch.values, batch.namespaces, batch.metadatas, seq)

    def delete(self, record: IndexRecord, ids: list[str], mutation: Mutation) -> None:
        with self._locked(record) as index:
            removed = index.delete(ids)
            index.bump(mutation, added=-removed)

    def create_metadata_index(self, record: IndexRecord, property_name: str, index_type: str,
                              mutation: Mutation) -> str:
        with self._locked(record) as index:
            existing = {m.property_name: m.index_type for m in index.metadata_indexes()}
            if not write_rules.metadata_index_is_new(existing, property_name, index_type):
                return index.record.mutation_id or mutation.id
            seq = index.bump(mutation)
            index.add_metadata_index(property_name, index_type, seq)
        return mutation.id

    def delete_metadata_index(self, record: IndexRecord, property_name: str, mutation: Mutation) -> bool:
        with self._locked(record) as index:
            if not index.drop_metadata_index(property_name):
                return False
            index.bump(mutation)
        return True

    # ---- reads ----------------------------------------------------------------------------
    def query(self, record: IndexRecord, search: Search) -> list[Hit]:
        count = record.vector_count or 0
        limit = max(2 * search.top_k, 32)  # candidates to re-score, as the embedded engine takes from its graph
        exact = search.namespace is not None or search.filter is not None or count < self.ann.threshold
        with_metadata = search.return_metadata != "none"
        rows, meta = [], []
        if not exact:
            rows, meta = self.store.search(record, search.vector, limit, exact=False,
                                           ef_search=max(self.ann.ef_search, limit), with_metadata=with_metadata)
            exact = len(rows) < min(search.top_k, count)  # the graph found too few (deletions): scan
        if exact:
            rows, meta = self.store.search(record, search.vector, limit, exact=True, ef_search=0,
                                           namespace=search.namespace, metadata_filter=search.filter,
                                           with_metadata=with_metadata)
        if not rows:
            return []
        scores = exact_scores(np.stack([r[2] for r in rows]), search.vector, record.metric)
        order = best_first(scores, record.metric, np.arange(len(rows)))[: search.top_k]
        hits = []
        for i in order:
            vid, namespace, values, metadata, seq = rows[i]
            if search.return_metadata == "indexed":
                metadata = indexed_metadata(
                    metadata, [(m.property_name, m.index_type) for m in meta if seq > m.created_seq])
            elif search.return_metadata == "all":
                metadata = metadata or {}
            hits.append(Hit(vid, float(scores[i]), namespace,
                            values.astype(np.float64).tolist() if search.return_values else None, metadata))
        return hits
