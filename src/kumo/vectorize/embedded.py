"""The embedded engine: SQLite is the source of truth, each index is also held in memory as a
`VectorSpace` (exact BLAS scans + an HNSW graph built behind the writes). One process owns a data dir.

Writes go to the database first (one transaction each) and then to the space, under the index's lock,
so a query that starts after a write returns sees it, and a crash after the commit loses nothing: the
space is rebuilt from the database on start (or loaded with a graph snapshot that matches it).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, cast

import numpy as np

from kumo.vectorize import write_rules
from kumo.vectorize.batch import VectorBatch
from kumo.vectorize.engine import Hit, IndexStats, Search
from kumo.vectorize.rwlock import SharedLock
from kumo.vectorize.snapshots import GraphSnapshots
from kumo.vectorize.space import AnnParams, VectorSpace
from kumo.vectorize.store import IndexRecord, MetadataIndexRecord, Mutation, StoredVector



class EmbeddedStore(Protocol):
    """The durable side of this engine: every write lands here first, and a space is rebuilt from it."""

    def delete_index(self, pk: int) -> None: ...
    def write_vectors(self, pk: int, vectors: list[StoredVector], mutation: Mutation) -> int: ...
    def delete_vectors(self, pk: int, ids: list[str], mutation: Mutation) -> int: ...
    def get_vectors(self, pk: int, ids: list[str]) -> list[StoredVector]: ...
    def iter_vectors(self, pk: int) -> Iterator[StoredVector]: ...
    def count_vectors(self, pk: int) -> int: ...
    def metadata_indexes(self, pk: int) -> list[MetadataIndexRecord]: ...
    def create_metadata_index(self, pk: int, property_name: str, index_type: str, mutation: Mutation) -> int: ...
    def delete_metadata_index(self, pk: int, property_name: str, mutation: Mutation) -> int: ...


log = logging.getLogger("kumo.vectorize")
# The graph builder's steps: short while queries come (each step shuts them out of the graph), longer when
# none has come for a while; on every core but one while writes come, on all of them once they stop, so a
# fresh load is indexed soon without slowing the load itself. Steps are sized in time
# from the rate the graph grows at (which falls as it grows).
QUIET_SECONDS = 0.5
BUSY_STEP_SECONDS = 0.02  # each step also waits for the queries in flight: not too many of them
IDLE_STEP_SECONDS = 0.1
# Writes and loads wake the graph builder; this is only a safety net. It polled twice a second before, and each
# wake-up from idle costs ~0.1 ms of CPU on a VM: a quarter of an idle server's own CPU.
IDLE_WAKE_SECONDS = 5.0


@dataclass
class LoadedIndex:
    record: IndexRecord
    space: VectorSpace
    metadata_indexes: dict[str, str]  # property name -> index type
    lock: SharedLock = field(default_factory=SharedLock)  # `with lock` to change, `lock.shared()` to query


class EmbeddedEngine:
    def __init__(self, store: EmbeddedStore, snapshot_dir: Path, ann: AnnParams | None = None):
        self.store = store
        self.snapshots = GraphSnapshots(snapshot_dir)
        self.ann = ann or AnnParams()
        self._loaded: dict[int, LoadedIndex] = {}
        self._by_name: dict[tuple[str, str], LoadedIndex] = {}
        self._loading = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._indexer: threading.Thread | None = None
        # long exact scans (wide filters, small indexes without a graph) are shared out over every core
        self._scan_parts = os.cpu_count() or 1
        self._scan_pool = (ThreadPoolExecutor(self._scan_parts - 1, thread_name_prefix="kumo-scan")
                           if self._scan_parts > 1 else None)

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the background thread that builds ANN graphs behind the writes."""
        if self._indexer is None:
            self._indexer = threading.Thread(target=self._index_forever, name="kumo-ann", daemon=True)
            self._indexer.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._indexer is not None:
            self._indexer.join(timeout=30)
        for loaded in list(self._loaded.values()):
            with loaded.lock:
                self.snapshots.save(loaded.record, loaded.space)
        if self._scan_pool is not None:
            self._scan_pool.shutdown(wait=True)

    def _index_forever(self) -> None:
        cores = os.cpu_count() or 1
        while not self._stop.is_set():
            worked = False
            for loaded in list(self._loaded.values()):
                if self._stop.is_set():
                    return
                space = loaded.space
                now = time.monotonic()
                busy = now - space.last_query < QUIET_SECONDS
                threads = max(1, cores - 1) if now - space.last_write < QUIET_SECONDS else cores
                step = max(8, int(space.ann_rate * threads * (BUSY_STEP_SECONDS if busy else IDLE_STEP_SECONDS)))
                with loaded.lock:
                    batch = space.ann_prepare(step)
                if batch is None:
                    continue
                space.ann_add(batch, threads)  # the slow part, without the index's lock
                with loaded.lock:
                    space.ann_commit(batch)
                worked = True
            if not worked:
                self._wake.wait(IDLE_WAKE_SECONDS)
                self._wake.clear()

    def vector_count(self) -> int:
        return sum(loaded.space.count for loaded in list(self._loaded.values()))

    def wait_for_ann(self, record: IndexRecord, timeout: float = 600) -> None:
        loaded = self._get(record)
        deadline = time.monotonic() + timeout
        while loaded.space.ann_pending and time.monotonic() < deadline:
            self._wake.set()
            time.sleep(0.02)

    def drop_index(self, record: IndexRecord) -> None:
        with self._loading:
            loaded = self._loaded.pop(record.pk, None)
            if loaded is not None and self._by_name.get((record.account, record.name)) is loaded:
                del self._by_name[(record.account, record.name)]
        if loaded is not None:
            loaded.lock.acquire()
        try:
            self.store.delete_index(record.pk)
            self.snapshots.drop(record.pk)
        finally:
            if loaded is not None:
                loaded.lock.release()

    def stats(self, record: IndexRecord) -> IndexStats:
        loaded = self._get(record)
        with loaded.lock.shared():
            return IndexStats(loaded.space.count, loaded.record.mutation_id, loaded.record.mutation_at,
                              loaded.space.graph_progress)

    def known_record(self, account: str, name: str) -> IndexRecord | None:
        """The record of a loaded index, without asking the database (one process owns the data dir, and
        every create, write and delete of an index goes through this engine)."""
        loaded = self._by_name.get((account, name))
        return loaded.record if loaded is not None else None

    def record_for_query(self, account: str, name: str) -> IndexRecord | None:
        return None  # known_record is never stale here

    # ---- loading --------------------------------------------------------------------------
    def _get(self, record: IndexRecord) -> LoadedIndex:
        loaded = self._loaded.get(record.pk)
        if loaded is not None:
            return loaded
        with self._loading:
            loaded = self._loaded.get(record.pk)
            if loaded is None:
                loaded = self._load(record)
                self._loaded[record.pk] = loaded
                self._by_name[(record.account, record.name)] = loaded
                self._wake.set()
        return loaded

    def _load(self, record: IndexRecord) -> LoadedIndex:
        space = VectorSpace(record.dimensions, record.metric, self.ann, self._scan_pool, self._scan_parts)
        meta = self.store.metadata_indexes(record.pk)
        for m in meta:
            space.add_column(m.property_name, m.index_type)
        snapshot = self.snapshots.read(record)
        total = self.store.count_vectors(record.pk)
        slots = len(snapshot[0]) if snapshot else total
        slot_of = {vid: i for i, vid in enumerate(snapshot[0]) if vid is not None} if snapshot else None
        space.begin_load(slots)
        placed = 0
        for vector in self.store.iter_vectors(record.pk):
            slot = slot_of.get(vector.id) if slot_of is not None else placed
            if slot is None:  # snapshot does not match the database after all
                log.warning("index %s: snapshot out of date, rebuilding", record.name)
                self.snapshots.drop(record.pk)
                return self._load(record)
            indexed = {m.property_name for m in meta if vector.seq > m.created_seq}
            values = np.frombuffer(vector.values, dtype=np.float32)
            space.place(slot, vector.id, values, vector.namespace, vector.metadata, indexed)
            placed += 1
        if snapshot and placed == len(slot_of or {}):
            space.attach_graph(snapshot[1])
        elif snapshot:
            log.warning("index %s: snapshot out of date, rebuilding", record.name)
            self.snapshots.drop(record.pk)
            return self._load(record)
        else:
            space.size = placed
        log.info("index %s/%s loaded: %d vectors", record.account, record.name, placed)
        return LoadedIndex(record, space, {m.property_name: m.index_type for m in meta})

    @staticmethod
    def _commit(loaded: LoadedIndex, seq: int, mutation: Mutation) -> None:
        loaded.record = replace(loaded.record, mutation_id=mutation.id, mutation_at=mutation.at, seq=seq)

    # ---- writes ---------------------------------------------------------------------------
    def write(self, record: IndexRecord, batch: VectorBatch, upsert: bool, mutation: Mutation) -> None:
        loaded = self._get(record)
        with loaded.lock:
            space = loaded.space
            keep = write_rules.rows_to_write(batch.ids, upsert=upsert, stored=space.slot_of.__contains__)
            batch = batch.subset(keep) if len(keep) != len(batch) else batch
            write_rules.check_vector_count(space.count, sum(1 for vid in batch.ids if vid not in space.slot_of))
            fresh = write_rules.fresh_namespaces(batch.namespaces, space.has_namespace)
            write_rules.check_namespace_count(space.namespace_count, len(fresh))
            stored = [
                StoredVector(vid, ns, row.tobytes(), meta, 0)
                for vid, ns, row, meta in zip(batch.ids, batch.namespaces, batch.values, batch.metadatas)
            ]
            seq = self.store.write_vectors(loaded.record.pk, stored, mutation)
            space.put(batch.ids, batch.values, batch.namespaces, batch.metadatas)
            self._commit(loaded, seq, mutation)
        self._wake.set()

    def delete(self, record: IndexRecord, ids: list[str], mutation: Mutation) -> None:
        loaded = self._get(record)
        with loaded.lock:
            seq = self.store.delete_vectors(loaded.record.pk, ids, mutation)
            loaded.space.remove(ids)
            self._commit(loaded, seq, mutation)

    def create_metadata_index(self, record: IndexRecord, property_name: str, index_type: str,
                              mutation: Mutation) -> str:
        loaded = self._get(record)
        with loaded.lock:
            if not write_rules.metadata_index_is_new(loaded.metadata_indexes, property_name, index_type):
                return loaded.record.mutation_id or mutation.id
            seq = self.store.create_metadata_index(loaded.record.pk, property_name, index_type, mutation)
            loaded.space.add_column(property_name, index_type)
            loaded.metadata_indexes[property_name] = index_type
            self._commit(loaded, seq, mutation)
        return mutation.id

    def delete_metadata_index(self, record: IndexRecord, property_name: str, mutation: Mutation) -> bool:
        loaded = self._get(record)
        with loaded.lock:
            if property_name not in loaded.metadata_indexes:
                return False
            seq = self.store.delete_metadata_index(loaded.record.pk, property_name, mutation)
            loaded.space.drop_column(property_name)
            del loaded.metadata_indexes[property_name]
            self._commit(loaded, seq, mutation)
        return True

    # ---- reads ----------------------------------------------------------------------------
    def query(self, record: IndexRecord, search: Search) -> list[Hit]:
        loaded = self._get(record)
        with loaded.lock.shared():
            space = loaded.space
            found = space.query(search.vector, search.top_k, search.namespace, search.filter)
            hits = [
                Hit(
                    cast(str, space.ids[m.slot]),  # a match is a live slot, which has an id
                    m.score,
                    space.namespace_of(m.slot),
                    space.values(m.slot) if search.return_values else None,
                    space.indexed_metadata(m.slot) if search.return_metadata == "indexed" else None,
                )
                for m in found
            ]
        if search.return_metadata == "all" and hits:
            stored = {v.id: v for v in self.store.get_vectors(record.pk, [h.id for h in hits])}
            hits = [h._replace(metadata=(stored[h.id].metadata if h.id in stored else None) or {}) for h in hits]
        return hits
