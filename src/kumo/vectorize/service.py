"""Vectorize as a service: validation, limits, error codes, the index lifecycle and reads by id, the
same on every backend. Knows nothing of HTTP. What differs between backends (writes, metadata indexes,
queries) is the engine's (`kumo.vectorize.engine`), chosen by Platform.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import numpy as np

from kumo.errors import KumoError, NotFound
from kumo.timestamps import iso_now
from kumo.vectorize.batch import VectorBatch
from kumo.vectorize.engine import Search, StaleRecord, VectorEngine
from kumo.vectorize.errors import (
    DUPLICATE_INDEX,
    INVALID_INDEX_CONFIG,
    INVALID_QUERY,
    METADATA_INDEX_NOT_FOUND,
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
from kumo.vectorize.space import METRICS
from kumo.vectorize.store import IndexCatalog, IndexRecord, Mutation

INDEX_NAME = re.compile(r"^[a-z]+[a-z0-9_-]*[a-z0-9]+$")
MAX_INDEX_NAME_BYTES = 64
MAX_DIMENSIONS = 1536
MAX_INDEXES_PER_ACCOUNT = 50_000
PRESETS = {
    "@cf/baai/bge-small-en-v1.5": (384, "cosine"),
    "@cf/baai/bge-base-en-v1.5": (768, "cosine"),
    "@cf/baai/bge-large-en-v1.5": (1024, "cosine"),
    "openai/text-embedding-ada-002": (1536, "cosine"),
    "cohere/embed-multilingual-v2.0": (768, "cosine"),
}



def _config_error(message: str) -> Exception:
    return invalid("invalid_config", message, INVALID_INDEX_CONFIG)


class VectorizeService:
    def __init__(self, store: IndexCatalog, engine: VectorEngine):
        self.store = store  # index records, metadata-index records and vectors by id
        self.engine = engine

    def start(self) -> None:
        self.engine.start()

    def close(self) -> None:
        self.engine.close()
        self.store.close()

    def loaded_vector_count(self) -> int:
        return self.engine.vector_count()

    def wait_for_ann(self, account: str, name: str, timeout: float = 600) -> None:
        """Block until the index's ANN structure covers every vector (benchmarks and tests use it)."""
        self.engine.wait_for_ann(self._record(account, name), timeout)

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
        record = self.store.create_index(account, name, description, dimensions, metric, preset, iso_now("microseconds"))
        if record is None:
            raise invalid("index.duplicate_name", f'Index name "{name}" already exists', DUPLICATE_INDEX)
        return index_object(record)

    @staticmethod
    def _parse_config(config: Any) -> tuple[int, str, str | None]:
        if not isinstance(config, dict):
            raise _config_error("`config` is required: {\"dimensions\": N, \"metric\": ...} or {\"preset\": ...}")
        if "preset" in config and config["preset"] is not None:
            preset = config["preset"]
            if not isinstance(preset, str) or preset not in PRESETS:
                raise _config_error(f"unknown preset {preset!r}; known presets: {', '.join(PRESETS)}")
            dims, metric = PRESETS[preset]
            return dims, metric, preset
        asked_dims, asked_metric = config.get("dimensions"), config.get("metric")
        if isinstance(asked_dims, bool) or not isinstance(asked_dims, int) or not 1 <= asked_dims <= MAX_DIMENSIONS:
            raise _config_error(f"`config.dimensions` must be an integer from 1 to {MAX_DIMENSIONS}")
        if not isinstance(asked_metric, str) or asked_metric not in METRICS:
            raise _config_error(f"`config.metric` must be one of {', '.join(METRICS)}")
        return asked_dims, asked_metric, None

    def list_indexes(self, account: str) -> list[dict]:
        return [index_object(r) for r in self.store.list_indexes(account)]

    def get_index(self, account: str, name: str) -> dict:
        return index_object(self._record(account, name))

    def delete_index(self, account: str, name: str) -> None:
        self.engine.drop_index(self._record(account, name))

    def info(self, account: str, name: str) -> dict:
        record = self._record(account, name)
        stats = self.engine.stats(record)
        out: dict[str, Any] = {
            "dimensions": record.dimensions,
            "vectorCount": stats.vector_count,
            "processedUpToDatetime": stats.mutation_at,
            "processedUpToMutation": stats.mutation_id,
        }
        if stats.graph is not None:  # kumo's own: how far the ANN graph built behind the writes has come
            out["kumoGraph"] = {"indexedVectors": stats.graph[0], "pendingVectors": stats.graph[1]}
        return out

    def holds_in_memory(self, account: str, name: str) -> bool:
        """Whether a query of this index is answered from memory alone (embedded engine, index loaded)."""
        return isinstance(name, str) and self.engine.known_record(account, name) is not None

    def _record(self, account: str, name: str) -> IndexRecord:
        if not isinstance(name, str):
            raise index_not_found(name)
        record = self.engine.known_record(account, name) or self.store.get_index(account, name)
        if record is None:
            raise index_not_found(name)
        return record

    # ---- writes ---------------------------------------------------------------------------
    @staticmethod
    def _mutation() -> Mutation:
        return Mutation(str(uuid.uuid4()), iso_now("microseconds"))

    def write(self, account: str, name: str, batch: VectorBatch, *, upsert: bool) -> dict:
        mutation = self._mutation()
        self.engine.write(self._record(account, name), batch, upsert, mutation)
        return {"mutationId": mutation.id}

    def delete_by_ids(self, account: str, name: str, ids: Any) -> dict:
        ids = check_ids(ids)
        mutation = self._mutation()
        self.engine.delete(self._record(account, name), ids, mutation)
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
        record = self._record(account, name)
        reported = self.engine.create_metadata_index(record, property_name, index_type, self._mutation())
        return {"mutationId": reported}

    def list_metadata_indexes(self, account: str, name: str) -> dict:
        items = self.store.metadata_indexes(self._record(account, name).pk)
        return {"metadataIndexes": [{"propertyName": m.property_name, "indexType": m.index_type} for m in items]}

    def delete_metadata_index(self, account: str, name: str, property_name: Any) -> dict:
        record = self._record(account, name)
        mutation = self._mutation()
        if not isinstance(property_name, str) or not self.engine.delete_metadata_index(record, property_name, mutation):
            raise NotFound(
                f"vectorize.metadata_index.not_found - no metadata index on property {property_name!r}",
                code=METADATA_INDEX_NOT_FOUND,
            )
        return {"mutationId": mutation.id}

    # ---- reads ----------------------------------------------------------------------------
    def query(self, account: str, name: str, vector: Any = None, vector_id: Any = None,
              options: QueryOptions = QueryOptions()) -> dict:
        cached = self.engine.record_for_query(account, name) if isinstance(name, str) else None
        if cached is not None:  # PostgreSQL: spares a round trip; the engine re-reads the index row anyway
            try:
                return self._query(cached, vector, vector_id, options)
            except (StaleRecord, KumoError):  # gone or made again: answer (or refuse) from the database's record
                pass
        return self._query(self._record(account, name), vector, vector_id, options)

    def _query(self, record: IndexRecord, vector: Any, vector_id: Any, options: QueryOptions) -> dict:
        name = record.name
        top_k, return_metadata = check_options(options)
        metadata_filter = MetadataFilter.parse(options.filter)
        if options.namespace is not None and not isinstance(options.namespace, str):
            raise query_error("`namespace` must be a string")
        if vector_id is not None:
            if vector is not None:
                raise query_error("give either `vector` or `vectorId`, not both")
            if not isinstance(vector_id, str):
                raise query_error("`vectorId` must be a string")
            found = self.store.get_vectors(record.pk, [vector_id])
            if not found:
                raise query_error(f"vector id {vector_id!r} is not in index {name!r}")
            query_vector = np.frombuffer(found[0].values, np.float32).copy()
        else:
            query_vector = check_vector(vector, record.dimensions)
        search = Search(query_vector, top_k, options.namespace, metadata_filter, options.return_values,
                        return_metadata)
        matches = []
        try:
            hits = self.engine.query(record, search)
        except StaleRecord:
            raise index_not_found(name) from None
        for hit in hits:
            item: dict[str, Any] = {"id": hit.id, "score": hit.score}
            if hit.values is not None:
                item["values"] = hit.values
            if hit.metadata is not None:
                item["metadata"] = hit.metadata
            if hit.namespace is not None:
                item["namespace"] = hit.namespace
            matches.append(item)
        return {"count": len(matches), "matches": matches}

    def get_by_ids(self, account: str, name: str, ids: Any) -> list[dict]:
        ids = check_ids(ids)
        record = self._record(account, name)
        out = []
        for v in self.store.get_vectors(record.pk, ids):
            item: dict[str, Any] = {"id": v.id, "values": np.frombuffer(v.values, np.float32).astype(float).tolist()}
            if v.metadata is not None:
                item["metadata"] = v.metadata
            if v.namespace is not None:
                item["namespace"] = v.namespace
            out.append(item)
        return out

    def list_vectors(self, account: str, name: str, count: Any = None, cursor: Any = None) -> dict:
        record = self._record(account, name)
        if count is None:
            count = 100
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_LIST_COUNT:
            raise query_error(f"`count` must be an integer from 1 to {MAX_LIST_COUNT}")
        after = decode_cursor(cursor) if cursor else None
        ids, total = self.store.list_ids(record.pk, after, count + 1)
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
