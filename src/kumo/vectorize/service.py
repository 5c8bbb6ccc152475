"""Vectorize as a service: index lifecycle, limits, writes, queries. Knows nothing of HTTP.

Writes go to the database first (one transaction each) and then to the in-memory `VectorSpace`,
under the index's lock, so a query that starts after a write returns sees it, and a crash after the
commit loses nothing: the space is rebuilt from the database on start.
"""

from __future__ import annotations

import logging
import re
import time
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from kumo.vectorize.batch import VectorBatch
from kumo.vectorize.errors import (
    DUPLICATE_INDEX,
    INVALID_INDEX_CONFIG,
    INVALID_QUERY,
    METADATA_INDEX_NOT_FOUND,
    TOO_MANY_METADATA_INDEXES,
    index_not_found,
    invalid,
)
from kumo.vectorize.filters import MetadataFilter
from kumo.vectorize.metadata import INDEX_TYPES
from kumo.vectorize.query_rules import (
    MAX_LIST_COUNT,
    QueryOptions,
    check_ids,
    check_options,
    check_vector,
    decode_cursor,
    encode_cursor,
    query_error,
)
from kumo.vectorize.snapshots import GraphSnapshots
from kumo.vectorize.space import METRICS, AnnParams, VectorSpace
from kumo.vectorize.store import IndexRecord, Mutation, StoredVector, VectorStore
from kumo.errors import NotFound

log = logging.getLogger("kumo.vectorize")

INDEX_NAME = re.compile(r"^[a-z]+[a-z0-9_-]*[a-z0-9]+$")
MAX_INDEX_NAME_BYTES = 64
MAX_DIMENSIONS = 1536
MAX_INDEXES_PER_ACCOUNT = 50_000
MAX_VECTORS_PER_INDEX = 20_000_000
MAX_NAMESPACES_PER_INDEX = 50_000
MAX_METADATA_INDEXES = 10
PRESETS = {
    "@cf/baai/bge-small-en-v1.5": (384, "cosine"),
    "@cf/baai/bge-base-en-v1.5": (768, "cosine"),
    "@cf/baai/bge-large-en-v1.5": (1024, "cosine"),
    "openai/text-embedding-ada-002": (1536, "cosine"),
    "cohere/embed-multilingual-v2.0": (768, "cosine"),
}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _config_error(message: str) -> Exception:
    return invalid("invalid_config", message, INVALID_INDEX_CONFIG)


@dataclass
class LoadedIndex:
    record: IndexRecord
    space: VectorSpace
    metadata_indexes: dict[str, str]  # property name -> index type
    lock: threading.RLock = field(default_factory=threading.RLock)


class VectorizeService:
    def __init__(self, store: VectorStore, snapshot_dir: Path, ann: AnnParams | None = None):
        self.store = store
        self.snapshots = GraphSnapshots(snapshot_dir)
        self.ann = ann or AnnParams()
        self._loaded: dict[int, LoadedIndex] = {}
        self._by_name: dict[tuple[str, str], LoadedIndex] = {}  # one process owns an SQLite data dir
        self._loading = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._indexer: threading.Thread | None = None

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
        self.store.close()

    def _index_forever(self) -> None:
        while not self._stop.is_set():
            worked = False
            for loaded in list(self._loaded.values()):
                if self._stop.is_set():
                    return
                with loaded.lock:
                    batch = loaded.space.ann_prepare(256)
                if batch is None:
                    continue
                loaded.space.ann_add(batch)  # the slow part, without the index's lock
                with loaded.lock:
                    loaded.space.ann_commit(batch)
                worked = True
            if not worked:
                self._wake.wait(0.5)
                self._wake.clear()

    def loaded_vector_count(self) -> int:
        return sum(loaded.space.count for loaded in list(self._loaded.values()))

    def wait_for_ann(self, account: str, name: str, timeout: float = 600) -> None:
        """Block until the index's ANN graph covers every vector (benchmarks and tests use it)."""
        loaded = self._get(account, name)
        deadline = time.monotonic() + timeout
        while loaded.space.ann_pending and time.monotonic() < deadline:
            self._wake.set()
            time.sleep(0.02)

    # ---- index management -----------------------------------------------------------------
    def create_index(self, account: str, name: Any, config: Any, description: Any = None) -> dict:
        if not isinstance(name, str) or not name:
            raise _config_error("`name` is required and must be a string")
        if len(name.encode()) > MAX_INDEX_NAME_BYTES or not INDEX_NAME.match(name):
            raise _config_error(
                f"index name {name!r} is not valid: use 2-{MAX_INDEX_NAME_BYTES} lowercase letters, digits, "
                "'-' or '_', starting with a letter and ending with a letter or digit"
            )
        if description is not None and not isinstance(description, str):
            raise _config_error("`description` must be a string")
        dimensions, metric, preset = self._parse_config(config)
        if len(self.store.list_indexes(account)) >= MAX_INDEXES_PER_ACCOUNT:
            raise _config_error(f"an account may have at most {MAX_INDEXES_PER_ACCOUNT} indexes")
        record = self.store.create_index(account, name, description, dimensions, metric, preset, now_iso())
        if record is None:
            raise invalid("index.duplicate_name", f'Index name "{name}" already exists', DUPLICATE_INDEX)
        return index_object(record)

    @staticmethod
    def _parse_config(config: Any) -> tuple[int, str, str | None]:
        if not isinstance(config, dict):
            raise _config_error("`config` is required: {\"dimensions\": N, \"metric\": ...} or {\"preset\": ...}")
        if "preset" in config and config["preset"] is not None:
            preset = config["preset"]
            if preset not in PRESETS:
                raise _config_error(f"unknown preset {preset!r}; known presets: {', '.join(PRESETS)}")
            dims, metric = PRESETS[preset]
            return dims, metric, preset
        dims, metric = config.get("dimensions"), config.get("metric")
        if isinstance(dims, bool) or not isinstance(dims, int) or not 1 <= dims <= MAX_DIMENSIONS:
            raise _config_error(f"`config.dimensions` must be an integer from 1 to {MAX_DIMENSIONS}")
        if metric not in METRICS:
            raise _config_error(f"`config.metric` must be one of {', '.join(METRICS)}")
        return dims, metric, None

    def list_indexes(self, account: str) -> list[dict]:
        return [index_object(r) for r in self.store.list_indexes(account)]

    def get_index(self, account: str, name: str) -> dict:
        return index_object(self._record(account, name))

    def delete_index(self, account: str, name: str) -> None:
        record = self._record(account, name)
        with self._loading:
            loaded = self._loaded.pop(record.pk, None)
            self._by_name.pop((account, name), None)
        if loaded is not None:
            loaded.lock.acquire()
        try:
            self.store.delete_index(record.pk)
            self.snapshots.drop(record.pk)
        finally:
            if loaded is not None:
                loaded.lock.release()

    def info(self, account: str, name: str) -> dict:
        loaded = self._get(account, name)
        with loaded.lock:
            record = loaded.record
            return {
                "dimensions": record.dimensions,
                "vectorCount": loaded.space.count,
                "processedUpToDatetime": record.mutation_at,
                "processedUpToMutation": record.mutation_id,
            }

    # ---- loading --------------------------------------------------------------------------
    def _record(self, account: str, name: str) -> IndexRecord:
        record = self.store.get_index(account, name) if isinstance(name, str) else None
        if record is None:
            raise index_not_found(name)
        return record

    def _get(self, account: str, name: str) -> LoadedIndex:
        cached = self._by_name.get((account, name))
        if cached is not None:
            return cached
        record = self._record(account, name)
        loaded = self._loaded.get(record.pk)
        if loaded is not None:
            return loaded
        with self._loading:
            loaded = self._loaded.get(record.pk)
            if loaded is None:
                loaded = self._load(record)
                self._loaded[record.pk] = loaded
                self._wake.set()
            self._by_name[(account, name)] = loaded
        return loaded

    def _load(self, record: IndexRecord) -> LoadedIndex:
        space = VectorSpace(record.dimensions, record.metric, self.ann)
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

    # ---- writes ---------------------------------------------------------------------------
    def _mutation(self) -> Mutation:
        return Mutation(str(uuid.uuid4()), now_iso())

    def _commit(self, loaded: LoadedIndex, seq_after: int, mutation: Mutation) -> None:
        r = loaded.record
        loaded.record = IndexRecord(
            r.pk, r.account, r.name, r.description, r.dimensions, r.metric, r.preset, r.created_on,
            r.modified_on, mutation.id, mutation.at, seq_after,
        )

    def write(self, account: str, name: str, batch: VectorBatch, *, upsert: bool) -> dict:
        loaded = self._get(account, name)
        with loaded.lock:
            space = loaded.space
            if upsert:
                last = {vid: i for i, vid in enumerate(batch.ids)}  # the last of duplicate ids wins
                keep = sorted(last.values())
            else:
                seen: set[str] = set()
                keep = []
                for i, vid in enumerate(batch.ids):  # insert keeps the first vector of an id
                    if vid not in space.slot_of and vid not in seen:
                        seen.add(vid)
                        keep.append(i)
            batch = batch.subset(keep) if len(keep) != len(batch) else batch
            new_ids = sum(1 for vid in batch.ids if vid not in space.slot_of)
            if space.count + new_ids > MAX_VECTORS_PER_INDEX:
                raise invalid(
                    "invalid_vector", f"an index holds at most {MAX_VECTORS_PER_INDEX} vectors", INVALID_QUERY
                )
            fresh_ns = {ns for ns in batch.namespaces if ns is not None and not space.has_namespace(ns)}
            if space.namespace_count + len(fresh_ns) > MAX_NAMESPACES_PER_INDEX:
                raise invalid(
                    "invalid_vector", f"an index holds at most {MAX_NAMESPACES_PER_INDEX} namespaces", INVALID_QUERY
                )
            mutation = self._mutation()
            stored = [
                StoredVector(vid, ns, row.tobytes(), meta, 0)
                for vid, ns, row, meta in zip(batch.ids, batch.namespaces, batch.values, batch.metadatas)
            ]
            seq = self.store.write_vectors(loaded.record.pk, stored, mutation)
            space.put(batch.ids, batch.values, batch.namespaces, batch.metadatas)
            self._commit(loaded, seq, mutation)
        self._wake.set()
        return {"mutationId": mutation.id}

    def delete_by_ids(self, account: str, name: str, ids: Any) -> dict:
        ids = check_ids(ids)
        loaded = self._get(account, name)
        with loaded.lock:
            mutation = self._mutation()
            seq = self.store.delete_vectors(loaded.record.pk, ids, mutation)
            loaded.space.remove(ids)
            self._commit(loaded, seq, mutation)
        return {"mutationId": mutation.id}

    # ---- metadata indexes -----------------------------------------------------------------
    def create_metadata_index(self, account: str, name: str, property_name: Any, index_type: Any) -> dict:
        if not isinstance(property_name, str) or not property_name or len(property_name) > 512:
            raise invalid("invalid_metadata_index", "`propertyName` must be a non-empty string", INVALID_QUERY)
        if property_name.startswith("$") or '"' in property_name:
            raise invalid(
                "invalid_metadata_index", "`propertyName` must not start with '$' or contain '\"'", INVALID_QUERY
            )
        if index_type not in INDEX_TYPES:
            raise invalid(
                "invalid_metadata_index", f"`indexType` must be one of {', '.join(INDEX_TYPES)}", INVALID_QUERY
            )
        loaded = self._get(account, name)
        with loaded.lock:
            existing = loaded.metadata_indexes.get(property_name)
            mutation = self._mutation()
            if existing == index_type:
                return {"mutationId": loaded.record.mutation_id or mutation.id}  # idempotent, as on Cloudflare
            if existing is not None:
                raise invalid(
                    "invalid_metadata_index",
                    f"property {property_name!r} already has a {existing} index; delete it first",
                    INVALID_QUERY,
                )
            if len(loaded.metadata_indexes) >= MAX_METADATA_INDEXES:
                raise invalid(
                    "metadata_index.limit",
                    f"an index may have at most {MAX_METADATA_INDEXES} metadata indexes",
                    TOO_MANY_METADATA_INDEXES,
                )
            seq = self.store.create_metadata_index(loaded.record.pk, property_name, index_type, mutation)
            loaded.space.add_column(property_name, index_type)
            loaded.metadata_indexes[property_name] = index_type
            self._commit(loaded, seq, mutation)
        return {"mutationId": mutation.id}

    def list_metadata_indexes(self, account: str, name: str) -> dict:
        loaded = self._get(account, name)
        with loaded.lock:
            items = sorted(loaded.metadata_indexes.items())
        return {"metadataIndexes": [{"propertyName": p, "indexType": t} for p, t in items]}

    def delete_metadata_index(self, account: str, name: str, property_name: Any) -> dict:
        loaded = self._get(account, name)
        with loaded.lock:
            if not isinstance(property_name, str) or property_name not in loaded.metadata_indexes:
                raise NotFound(
                    f"vectorize.metadata_index.not_found - no metadata index on property {property_name!r}",
                    code=METADATA_INDEX_NOT_FOUND,
                )
            mutation = self._mutation()
            seq = self.store.delete_metadata_index(loaded.record.pk, property_name, mutation)
            loaded.space.drop_column(property_name)
            del loaded.metadata_indexes[property_name]
            self._commit(loaded, seq, mutation)
        return {"mutationId": mutation.id}

    # ---- reads ----------------------------------------------------------------------------
    def query(self, account: str, name: str, vector: Any = None, vector_id: Any = None,
              options: QueryOptions = QueryOptions()) -> dict:
        loaded = self._get(account, name)
        top_k, return_metadata = check_options(options)
        metadata_filter = MetadataFilter.parse(options.filter)
        if options.namespace is not None and not isinstance(options.namespace, str):
            raise query_error("`namespace` must be a string")
        with loaded.lock:
            space = loaded.space
            if vector_id is not None:
                if vector is not None:
                    raise query_error("give either `vector` or `vectorId`, not both")
                if not isinstance(vector_id, str):
                    raise query_error("`vectorId` must be a string")
                slot = space.slot_of.get(vector_id)
                if slot is None:
                    raise query_error(f"vector id {vector_id!r} is not in index {name!r}")
                query_vector = space.matrix[slot].copy()
            else:
                query_vector = check_vector(vector, space.dimensions)
            found = space.query(query_vector, top_k, options.namespace, metadata_filter)
            matches = []
            for m in found:
                item: dict[str, Any] = {"id": space.ids[m.slot], "score": m.score}
                if options.return_values:
                    item["values"] = space.values(m.slot)
                if return_metadata == "indexed":
                    item["metadata"] = space.indexed_metadata(m.slot)
                namespace = space.namespace_of(m.slot)
                if namespace is not None:
                    item["namespace"] = namespace
                matches.append(item)
            pk = loaded.record.pk
        if return_metadata == "all" and matches:
            stored = {v.id: v for v in self.store.get_vectors(pk, [m["id"] for m in matches])}
            for item in matches:
                v = stored.get(item["id"])
                item["metadata"] = (v.metadata if v else None) or {}
        return {"count": len(matches), "matches": matches}

    def get_by_ids(self, account: str, name: str, ids: Any) -> list[dict]:
        ids = check_ids(ids)
        loaded = self._get(account, name)
        out = []
        for v in self.store.get_vectors(loaded.record.pk, ids):
            item: dict[str, Any] = {"id": v.id, "values": np.frombuffer(v.values, np.float32).astype(float).tolist()}
            if v.metadata is not None:
                item["metadata"] = v.metadata
            if v.namespace is not None:
                item["namespace"] = v.namespace
            out.append(item)
        return out

    def list_vectors(self, account: str, name: str, count: Any = None, cursor: Any = None) -> dict:
        loaded = self._get(account, name)
        if count is None:
            count = 100
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_LIST_COUNT:
            raise query_error(f"`count` must be an integer from 1 to {MAX_LIST_COUNT}")
        after = decode_cursor(cursor) if cursor else None
        ids, total = self.store.list_ids(loaded.record.pk, after, count + 1)
        truncated = len(ids) > count
        ids = ids[:count]
        result: dict[str, Any] = {
            "count": len(ids),
            "totalCount": total,
            "isTruncated": truncated,
            "nextCursor": encode_cursor(ids[-1]) if truncated else None,
            "cursorExpirationTimestamp": None,
            "vectors": [{"id": i} for i in ids],
        }
        return result


def index_object(record: IndexRecord) -> dict:
    config: dict[str, Any] = {"dimensions": record.dimensions, "metric": record.metric}
    if record.preset:
        config["preset"] = record.preset
    out: dict[str, Any] = {"name": record.name, "config": config,
                           "created_on": record.created_on, "modified_on": record.modified_on}
    if record.description is not None:
        out["description"] = record.description
    return out
