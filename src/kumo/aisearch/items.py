"""An instance's items (documents): upload, (re)index by key, list, get, download, chunks, delete, logs.
An upload of bytes the item already has, under the same settings, is answered without embedding again."""

from __future__ import annotations

import builtins
import hashlib
import mimetypes
import time
import uuid
from typing import Any

from kumo.aisearch import convert
from kumo.aisearch.instance_config import index_config_signature
from kumo.aisearch.errors import UNSUPPORTED_FILE, bad_config, item_not_found
from kumo.aisearch.indexing import Indexer
from kumo.aisearch.jobs import Jobs
from kumo.aisearch.metadata import built_in, index_types, matches, parse_custom
from kumo.aisearch.store import AiSearchStore, InstanceRecord, ItemRecord
from kumo.api.body import JsonRefused, loads
from kumo.api.threads import blocking
from kumo.errors import InvalidRequest, KumoError
from kumo.timestamps import iso_now
from kumo.vectorize.filters import MetadataFilter

MAX_KEY_CHARS = 128
STATUSES = ("queued", "running", "completed", "error", "skipped", "outdated")


def item_object(item: ItemRecord, namespace: str) -> dict[str, Any]:
    return {
        "id": item.id,
        "key": item.key,
        "status": item.status,
        "error": item.error,
        "checksum": item.checksum,
        "chunks_count": item.chunks_count,
        "file_size": item.file_size,
        "metadata": item.metadata,
        "namespace": namespace,
        "source_id": item.source_id,
        "next_action": None,
        "created_at": item.created_at,
        "last_seen_at": item.last_seen_at,
    }


def check_key(key: Any) -> str:
    if not isinstance(key, str) or not key.strip():
        raise bad_config("the item needs a file name (`key`)")
    key = key.strip().lstrip("/")
    if len(key) > MAX_KEY_CHARS:
        raise bad_config(f"item keys (file names) may have at most {MAX_KEY_CHARS} characters")
    if any(part in ("", ".", "..") for part in key.split("/")) or "\\" in key or "\x00" in key:
        raise bad_config(f"item key {key!r} is not a clean relative path")
    return key


class Items:
    def __init__(self, store: AiSearchStore, indexer: Indexer, jobs: Jobs):
        self.store = store
        self.indexer = indexer
        self.jobs = jobs

    def get(self, instance: InstanceRecord, item_id: str) -> ItemRecord:
        item = self.store.get_item(instance.pk, item_id)
        if item is None:
            raise item_not_found(item_id)
        return item

    async def upload(self, instance: InstanceRecord, filename: Any, data: bytes, metadata: Any,
                     wait: bool) -> dict[str, Any]:
        key = check_key(filename)
        if instance.config.get("source"):
            raise bad_config(f"instance {instance.id!r} indexes {instance.config['source']}; put the file there "
                             "and sync, or upload to an instance without a source")
        if not convert.is_supported(key):
            raise InvalidRequest(convert.unsupported_message(key), code=UNSUPPORTED_FILE)
        custom, warnings = parse_custom(metadata, instance.config)
        checksum = hashlib.sha256(data).hexdigest()
        existing = await blocking(self.store.get_item_by_key, instance.pk, key)
        if existing is not None and existing.checksum == checksum and existing.status == "completed" \
                and existing.index_signature == index_config_signature(instance.config) \
                and {k: v for k, v in existing.metadata.items() if k not in _BUILT_IN} == custom:
            out = item_object(existing, instance.namespace)  # same bytes, same settings: nothing to embed
            return {**out, "warnings": warnings} if warnings else out
        item_metadata = {**built_in(key, int(time.time() * 1000)), **custom}
        item = await blocking(
            self.store.put_item, instance.pk, existing.id if existing else str(uuid.uuid4()), key, "builtin",
            checksum, len(data), item_metadata, data, "queued", iso_now())
        if wait:
            async with self.jobs.lock(instance.pk):
                item = await self.indexer.index(instance, item, data)
        else:
            self.jobs.in_background(self._index_later(instance, item, data))
        out = item_object(item, instance.namespace)
        return {**out, "warnings": warnings} if warnings else out

    async def _index_later(self, instance: InstanceRecord, item: ItemRecord, data: bytes) -> None:
        async with self.jobs.lock(instance.pk):
            current = await blocking(self.store.get_item, instance.pk, item.id)
            if current is not None and current.checksum == item.checksum:  # not replaced or deleted meanwhile
                await self.indexer.index(instance, current, data)

    async def index_key(self, instance: InstanceRecord, key: Any, wait: bool) -> dict[str, Any]:
        """PUT .../items {key, next_action: INDEX}: (re)index the item with this key from where it lives."""
        key = check_key(key)
        item = await blocking(self.store.get_item_by_key, instance.pk, key)
        if item is None and instance.config.get("source"):
            async with self.jobs.lock(instance.pk):
                item = await self.jobs.index_key(instance, key)
            if item is None:
                raise item_not_found(key)
            return item_object(item, instance.namespace)
        if item is None:
            raise item_not_found(key)
        return await self.reindex(instance, item, wait)

    async def reindex(self, instance: InstanceRecord, item: ItemRecord, wait: bool) -> dict[str, Any]:
        async def run() -> ItemRecord:
            async with self.jobs.lock(instance.pk):
                return await self.jobs.reindex(instance, item)

        if wait:
            item = await run()
        else:
            await blocking(self.store.set_item_status, item.pk, "queued", None, iso_now())
            self.jobs.in_background(run())
            item = await blocking(self.get, instance, item.id)
        return item_object(item, instance.namespace)

    def list(self, instance: InstanceRecord, params: dict[str, Any], page: int, per_page: int
             ) -> tuple[list[dict[str, Any]], int]:
        status = params.get("status")
        if status is not None and status not in STATUSES:
            raise bad_config(f"`status` must be one of {', '.join(STATUSES)}")
        sort_by = params.get("sort_by") or "status"
        if sort_by not in ("status", "modified_at"):
            raise bad_config("`sort_by` must be status or modified_at")
        query: dict[str, Any] = dict(status=status, key=params.get("key"), item_id=params.get("item_id"),
                                     source_id=params.get("source"), search=params.get("search"), sort_by=sort_by)
        raw_filter = params.get("metadata_filter")
        if raw_filter:
            try:
                metadata_filter = MetadataFilter.parse(loads(raw_filter))
            except (JsonRefused, KumoError) as exc:
                raise bad_config(f"`metadata_filter` must be a JSON filter in Vectorize syntax: "
                                 f"{getattr(exc, 'message', exc)}") from None
            types = index_types(instance.config)
            items, _ = self.store.list_items(instance.pk, **query)
            items = [i for i in items if matches(metadata_filter, i.metadata, types)]
            total, items = len(items), items[(page - 1) * per_page : page * per_page]
        else:
            items, total = self.store.list_items(instance.pk, **query, offset=(page - 1) * per_page, limit=per_page)
        return [item_object(i, instance.namespace) for i in items], total

    async def download(self, instance: InstanceRecord, item_id: str) -> tuple[bytes, str, str]:
        item = await blocking(self.get, instance, item_id)
        source = self.jobs.source_of(instance)
        if source is not None:
            data = await source.read(item.key)
        else:
            data = await blocking(self.store.item_content, item.pk)
        if data is None:
            raise item_not_found(item_id)
        media = mimetypes.guess_type(item.key)[0] or "application/octet-stream"
        return data, media, item.key

    def chunks(self, instance: InstanceRecord, item_id: str, offset: int, limit: int) -> builtins.list[dict[str, Any]]:
        item = self.get(instance, item_id)
        ref = {"key": item.key, "metadata": item.metadata, "timestamp": item.metadata.get("timestamp")}
        return [{"id": c.chunk_id, "item": ref, "text": c.text, "start_byte": c.start_byte, "end_byte": c.end_byte}
                for c in self.store.item_chunks(item.pk, offset, limit)]

    async def delete(self, instance: InstanceRecord, item_id: str) -> dict[str, Any]:
        item = await blocking(self.get, instance, item_id)
        async with self.jobs.lock(instance.pk):
            await self.indexer.remove(instance, item, "deleted through the API")
        return {"key": item.key}

    def logs(self, instance: InstanceRecord, item_id: str, cursor: Any, limit: int) -> tuple[builtins.list[dict], str | None]:
        """The item's indexing history; it outlives the item, so a deletion can be looked up afterwards."""
        try:
            after = int(cursor) if cursor else 0
        except ValueError:
            raise bad_config("`cursor` must be the value a previous page returned") from None
        rows = self.store.item_logs(instance.pk, item_id, after, limit)
        if not rows and not after:
            self.get(instance, item_id)  # 404 for an id this instance never had
        out = [{"action": log.action, "fileKey": log.file_key, "chunkCount": log.chunk_count,
                "errorType": log.error_type, "message": log.message, "processingTimeMs": log.processing_time_ms,
                "timestamp": log.timestamp} for _, log in rows]
        return out, (str(rows[-1][0]) if len(rows) == limit else None)


_BUILT_IN = ("filename", "folder", "timestamp")
