"""What AI Search needs from durable storage: namespaces, instances, items (with the bytes of uploaded
files), chunks with their keyword index, indexing jobs and logs. The implementation lives in `kumo.storage`
(`sql_aisearch`, for SQLite and PostgreSQL); all SQL and the keyword-index query language stay there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class NamespaceRecord:
    account: str
    name: str
    description: str | None
    created_at: str


@dataclass(frozen=True)
class InstanceRecord:
    pk: int
    account: str
    namespace: str
    id: str
    config: dict[str, Any]
    vector_index: str | None  # the Vectorize index kumo manages for it (None: keyword-only)
    created_at: str
    modified_at: str
    last_activity: str | None


@dataclass(frozen=True)
class ItemRecord:
    pk: int
    instance_pk: int
    id: str
    key: str
    source_id: str  # "builtin" for uploads, "r2:<folder>" for a folder source
    checksum: str  # sha256 of the bytes
    status: str  # queued | running | completed | error | skipped | outdated
    error: str | None
    file_size: int
    chunks_count: int
    metadata: dict[str, Any]  # built-in (filename, folder, timestamp) + custom fields
    index_signature: str | None  # config the chunks were made with (see config.index_config_signature)
    created_at: str
    last_seen_at: str


@dataclass(frozen=True)
class NewChunk:
    chunk_id: str
    position: int
    text: str
    start_byte: int
    end_byte: int


@dataclass(frozen=True)
class StoredChunk:
    chunk_id: str
    item_pk: int
    position: int
    text: str
    start_byte: int
    end_byte: int


@dataclass(frozen=True)
class JobRecord:
    pk: int
    instance_pk: int
    id: str
    source: str  # user | schedule
    description: str | None
    started_at: str | None
    ended_at: str | None
    end_reason: str | None
    last_seen_at: str | None


@dataclass(frozen=True)
class ItemLog:
    action: str
    file_key: str
    chunk_count: int | None
    error_type: str | None
    message: str | None
    processing_time_ms: int | None
    timestamp: str


class AiSearchStore(Protocol):
    # ---- namespaces (the `default` one is implicit) ----------------------------------------
    def create_namespace(self, account: str, name: str, description: str | None, now: str) -> NamespaceRecord | None: ...
    def get_namespace(self, account: str, name: str) -> NamespaceRecord | None: ...
    def list_namespaces(self, account: str) -> list[NamespaceRecord]: ...
    def update_namespace(self, account: str, name: str, description: str | None) -> None: ...
    def delete_namespace(self, account: str, name: str) -> None: ...

    # ---- instances ------------------------------------------------------------------------------
    def create_instance(self, account: str, namespace: str, instance_id: str, config: dict, vector_index: str | None,
                        now: str) -> InstanceRecord | None: ...  # None: the id is taken
    def get_instance(self, account: str, namespace: str, instance_id: str) -> InstanceRecord | None: ...
    def list_instances(self, account: str, namespace: str | None) -> list[InstanceRecord]: ...
    def all_instances(self) -> list[InstanceRecord]: ...
    def update_instance(self, pk: int, config: dict, now: str) -> None: ...
    def touch_instance(self, pk: int, now: str) -> None: ...
    def delete_instance(self, pk: int) -> None: ...

    # ---- items ------------------------------------------------------------------------------------
    def put_item(self, instance_pk: int, item_id: str, key: str, source_id: str, checksum: str, file_size: int,
                 metadata: dict, content: bytes | None, status: str, now: str) -> ItemRecord: ...
    def get_item(self, instance_pk: int, item_id: str) -> ItemRecord | None: ...
    def get_item_by_key(self, instance_pk: int, key: str) -> ItemRecord | None: ...
    def list_items(self, instance_pk: int, *, status: str | None = None, key: str | None = None,
                   item_id: str | None = None, source_id: str | None = None, search: str | None = None,
                   sort_by: str = "status", offset: int = 0, limit: int | None = None) -> tuple[list[ItemRecord], int]: ...
    def item_content(self, item_pk: int) -> bytes | None: ...
    def set_item_status(self, item_pk: int, status: str, error: str | None, now: str) -> None: ...
    def replace_chunks(self, item_pk: int, chunks: list[NewChunk], *, keyword: str | None, status: str,
                       error: str | None,
                       index_signature: str | None, now: str) -> ItemRecord: ...
    def delete_item(self, item_pk: int) -> None: ...
    def status_counts(self, instance_pk: int) -> dict[str, int]: ...
    def stored_bytes(self, instance_pk: int) -> tuple[int, int]: ...  # (objects, bytes) of uploaded content

    # ---- chunks ---------------------------------------------------------------------------------
    def chunk_ids(self, item_pk: int) -> list[str]: ...
    def instance_chunk_ids(self, instance_pk: int) -> set[str]: ...
    def item_chunks(self, item_pk: int, offset: int, limit: int) -> list[StoredChunk]: ...
    def chunks_by_id(self, instance_pk: int, chunk_ids: list[str]) -> dict[str, StoredChunk]: ...
    def chunks_at(self, item_pk: int, positions: list[int]) -> list[StoredChunk]: ...
    def keyword_search(self, instance_pk: int, terms: list[str], mode: str, limit: int,
                       item_pks: set[int] | None, tokenizer: str = "porter"
                       ) -> list[tuple[str, float]]: ...  # (chunk_id, score >= 0), best first
    def items_by_pk(self, item_pks: list[int]) -> dict[int, ItemRecord]: ...
    def items_metadata(self, instance_pk: int) -> list[tuple[int, dict]]: ...

    # ---- the similarity cache (similarity_cache.py) ---------------------------------------------------
    def cache_candidates(self, instance_pk: int, context: str, now: float,
                         limit: int) -> list[tuple[list[float], str]]: ...  # (unit embedding, response JSON), newest first
    def cache_put(self, instance_pk: int, context: str, query: str, embedding: list[float], response: str,
                  expires_at: float, now: float) -> None: ...
    def purge_cache(self, instance_pk: int) -> int: ...

    # ---- jobs and logs ----------------------------------------------------------------------------
    def create_job(self, instance_pk: int, job_id: str, source: str, description: str | None, now: str, *,
                   lease_until: float | None = None, not_since: str | None = None) -> JobRecord | None: ...
    def running_job(self, instance_pk: int) -> int | None: ...
    def renew_job(self, job_pk: int, lease_until: float) -> bool | None: ...  # None: closed; else cancel asked
    def request_cancel(self, job_pk: int) -> bool: ...
    def get_job(self, instance_pk: int, job_id: str) -> JobRecord | None: ...
    def list_jobs(self, instance_pk: int, offset: int, limit: int) -> tuple[list[JobRecord], int]: ...
    def finish_job(self, job_pk: int, end_reason: str, now: str) -> None: ...
    def interrupt_unfinished_jobs(self, now: str, *, expired_only: bool = False) -> int: ...
    def add_job_log(self, job_pk: int, message: str, message_type: int, at: float) -> None: ...
    def job_logs(self, job_pk: int, offset: int, limit: int) -> list[dict]: ...
    def add_item_log(self, instance_pk: int, item_id: str, log: ItemLog) -> None: ...
    def item_logs(self, instance_pk: int, item_id: str, after: int, limit: int) -> list[tuple[int, ItemLog]]: ...
    def close(self) -> None: ...
