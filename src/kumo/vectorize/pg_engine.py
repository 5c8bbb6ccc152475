"""The pgvector engine: every read and write is SQL on PostgreSQL (`kumo.storage.pg_vectors`), so any
number of kumo nodes serve the same indexes and nothing lives in a node's memory.

Unfiltered queries on an index of at least `AnnParams.threshold` vectors walk the index's HNSW graph
(`hnsw.ef_search` from AnnParams); smaller indexes and queries with a namespace or a metadata filter
scan exactly, so they return the true top-K like the embedded engine. Either way the candidates are
re-scored in float64 (`scores.py`): pgvector's float32 distances pick, Cloudflare's scores rank.

The graph of an index is built once the index reaches the threshold and its writes pause (a load is over),
over all its rows at once, by whichever node's builder gets to it first; until then its queries scan
exactly, as the embedded engine scans the vectors its graph does not cover yet.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from typing import Protocol

import numpy as np

from kumo.timestamps import parse_iso
from kumo.vectorize import write_rules
from kumo.vectorize.batch import VectorBatch
from kumo.vectorize.engine import Hit, IndexStats, Search, StaleRecord
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
    def copy_new(self, ids: list[str], values: np.ndarray, namespaces: list[str | None],
                 metadatas: list[dict | None], seqs: int | list[int]) -> None: ...


class SqlVectors(Protocol):
    """The SQL side this engine drives: declared here so vectorize depends on no concrete storage class."""

    def total_vectors(self) -> int: ...
    def delete_index(self, pk: int) -> None: ...
    def get_index(self, account: str, name: str) -> IndexRecord | None: ...
    def build_graph(self, record: IndexRecord, vectors: int) -> bool: ...
    def graph_states(self) -> list[tuple[IndexRecord, bool | None]]: ...
    def locked(self, pk: int) -> AbstractContextManager[LockedIndex | None]: ...
    def search(
        self, record: IndexRecord, vector: np.ndarray, limit: int, *, exact: bool, ef_search: int,
        namespace: str | None = None, metadata_filter: MetadataFilter | None = None, with_metadata: bool = False,
    ) -> tuple[list[tuple], list[MetadataIndexRecord], int | None]: ...

log = logging.getLogger("kumo.vectorize")
EXACT_MARGIN = 8  # rows beyond top_k a query reads to rank them in float64
GRAPH_MARGIN = 2
COPY_MIN_ROWS = 32  # new rows from this many on go in by COPY
QUIET_SECONDS = 1.0  # no write for this long: a load is over, build the graph
CHECK_SECONDS = 1.0  # how often the builder looks (and learns which graphs other nodes built)
# an index written without a pause gets its graph anyway once it has waited this long (built CONCURRENTLY,
# so the writes go on); waiting for a pause alone left it scanned exactly for as long as writes came
PATIENCE_SECONDS = 60.0


class PgVectorEngine:
    def __init__(self, store: SqlVectors, ann: AnnParams | None = None):
        self.store = store
        self.ann = ann or AnnParams()
        self._graphs: set[int] = set()  # pks of indexes whose HNSW graph is built and valid
        self._due_since: dict[int, float] = {}  # pks of indexes that need a graph -> since when (monotonic)
        self._records: dict[tuple[str, str], IndexRecord] = {}  # (account, name) -> record, for queries
        self._stop = threading.Event()
        self._builder: threading.Thread | None = None

    def start(self) -> None:
        if self._builder is None:
            self._builder = threading.Thread(target=self._build_forever, name="kumo-pg-graphs", daemon=True)
            self._builder.start()

    def close(self) -> None:
        self._stop.set()
        if self._builder is not None:
            self._builder.join(timeout=30)

    def _build_forever(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                self.build_due_graphs()
                failing = False
            except Exception as exc:  # PostgreSQL away or the index deleted meanwhile: try again later
                if not failing:  # once per outage, not every second
                    log.warning("building HNSW graphs failed (%s); retrying every %.0f s", exc, CHECK_SECONDS)
                failing = True
            self._stop.wait(CHECK_SECONDS)

    def build_due_graphs(self, quiet: float = QUIET_SECONDS, patience: float = PATIENCE_SECONDS) -> None:
        """Build the graph of every index that has reached the threshold and had no write for `quiet` s, or has
        needed one for `patience` s."""
        states = self.store.graph_states()
        self._graphs = {record.pk for record, valid in states if valid}
        now = datetime.now(timezone.utc)
        due: dict[int, float] = {}
        for record, valid in states:
            count = record.vector_count or 0
            if valid or count < self.ann.threshold or self._stop.is_set():
                continue
            since = due[record.pk] = self._due_since.get(record.pk, time.monotonic())
            last = parse_iso(record.mutation_at) if record.mutation_at else None
            writing = last is not None and (now - last).total_seconds() < quiet
            if writing and time.monotonic() - since < patience:
                continue
            started = time.monotonic()
            if self.store.build_graph(record, count):
                log.info("index %s/%s: HNSW graph of %d vectors built in %.1f s", record.account, record.name,
                         count, time.monotonic() - started)
                self._graphs.add(record.pk)
        self._due_since = due

    def vector_count(self) -> int:
        return self.store.total_vectors()

    def wait_for_ann(self, record: IndexRecord, timeout: float = 600) -> None:
        """Build the graph now if the index needs one (benchmarks and tests)."""
        if (record.vector_count or 0) >= self.ann.threshold and record.pk not in self._graphs:
            fresh = self.store.get_index(record.account, record.name) or record
            self.store.build_graph(fresh, fresh.vector_count or 0)
            self._graphs |= {r.pk for r, valid in self.store.graph_states() if valid}

    def drop_index(self, record: IndexRecord) -> None:
        self.store.delete_index(record.pk)

    def stats(self, record: IndexRecord) -> IndexStats:
        count = record.vector_count or 0
        graph = None
        if count >= self.ann.threshold:  # below it queries scan exactly: no graph to report, as embedded
            graph = (count, 0) if record.pk in self._graphs else (0, count)
        return IndexStats(count, record.mutation_id, record.mutation_at, graph)

    def known_record(self, account: str, name: str) -> IndexRecord | None:
        return None  # other nodes create and delete indexes: always ask the database

    def record_for_query(self, account: str, name: str) -> IndexRecord | None:
        """The record a query of this node last used: its pk, dimensions and metric never change, and
        `query` reads the index row again in its own round trip (StaleRecord if it is gone)."""
        return self._records.get((account, name))

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
                unknown = named - index.known_namespaces(named)
                if unknown:
                    write_rules.check_namespace_count(index.namespace_count(), len(unknown))
            seq = index.bump(mutation, added=new_ids)
            if not len(batch):
                return
            if new_ids >= COPY_MIN_ROWS:  # new rows by COPY, replacements by INSERT ... ON CONFLICT
                fresh = [i for i, vid in enumerate(batch.ids) if vid not in stored]
                part = batch.subset(fresh) if len(fresh) != len(batch) else batch
                index.copy_new(part.ids, part.values, part.namespaces, part.metadatas, seq)
                if len(fresh) == len(batch):
                    return
                batch = batch.subset([i for i, vid in enumerate(batch.ids) if vid in stored])
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
        # float32 distances pick a few more; float64 scores rank (as VectorSpace._rank). An exact scan takes the
        # margin the embedded engine does, so both answer alike to the last bit; a graph walk is approximate
        # anyway, and each row it sends costs (a 384-float row is 1.5 kB)
        limit = search.top_k + EXACT_MARGIN
        exact = (search.namespace is not None or search.filter is not None
                 or record.pk not in self._graphs)  # no graph yet: scan, as over the embedded engine's tail
        with_metadata = search.return_metadata != "none"
        rows: list = []
        if not exact and (record.vector_count or 0) >= self.ann.threshold:
            walk = search.top_k + GRAPH_MARGIN
            rows, meta, count = self.store.search(record, search.vector, walk, exact=False,
                                                  ef_search=max(self.ann.ef_search, walk),
                                                  with_metadata=with_metadata)
            # small after all (deletions), or the graph found too few: scan
            exact = count is not None and (count < self.ann.threshold or len(rows) < min(search.top_k, count))
        else:
            exact = True
        if exact:
            rows, meta, count = self.store.search(record, search.vector, limit, exact=True, ef_search=0,
                                                  namespace=search.namespace, metadata_filter=search.filter,
                                                  with_metadata=with_metadata)
        if count is None:  # deleted since the record was read
            self._records.pop((record.account, record.name), None)
            raise StaleRecord(record.name)
        if len(self._records) > 10_000:
            self._records.clear()
        self._records[(record.account, record.name)] = replace(record, vector_count=count)
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
