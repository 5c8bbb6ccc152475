"""Indexing one item: bytes -> text -> chunks -> embeddings (kumo's Workers AI service, in batches) -> the
instance's Vectorize index and the keyword index.

Order of writes, so a crash leaves nothing half-visible: new vectors are upserted first under ids that carry
the content version; then one store transaction swaps the item's chunks (and keyword rows); then the
vectors the item no longer has are deleted. Retrieval only returns vectors whose chunk row exists, so
vectors orphaned by a crash between the steps are never answered, and the next index of the item removes them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from kumo.ai.service import AiService
from kumo.aisearch.chunking import chunk_text
from kumo.aisearch.instance_config import index_config_signature, tokenizer_of
from kumo.aisearch.convert import to_text
from kumo.aisearch.errors import UnreadableDocument
from kumo.aisearch.metadata import index_types
from kumo.aisearch.store import AiSearchStore, InstanceRecord, ItemLog, ItemRecord, NewChunk
from kumo.api.threads import blocking
from kumo.errors import KumoError
from kumo.timestamps import iso_now
from kumo.vectorize.batch import VectorBatch
from kumo.vectorize.service import VectorizeService

log = logging.getLogger("kumo.aisearch")

EMBED_BATCH = 32  # texts per embeddings call (Workers AI takes up to 100)
VECTOR_BATCH = 1000
Progress = Callable[[int], None]



class Indexer:
    def __init__(self, store: AiSearchStore, ai: AiService, vectorize: VectorizeService):
        self.store = store
        self.ai = ai
        self.vectorize = vectorize

    async def embed(self, model: str, texts: list[str], progress: Progress | None = None) -> np.ndarray:
        # batches of similar length: a batch is padded to its longest text, and the forward pass is the cost
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        rows: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), EMBED_BATCH):
            batch = order[start : start + EMBED_BATCH]
            result = await self.ai.run(model, {"text": [texts[i] for i in batch]})
            for i, row in zip(batch, result.output.result["data"]):
                rows[i] = row
            if progress is not None:
                progress(len(batch))
        return np.asarray(rows, dtype=np.float32)

    async def index(self, instance: InstanceRecord, item: ItemRecord, data: bytes,
                    progress: Progress | None = None) -> ItemRecord:
        """Index `data` as the item's content; failures end on the item (status `error`) and in its logs."""
        started = time.perf_counter()
        await blocking(self.store.set_item_status, item.pk, "running", None, iso_now())
        old_ids = await blocking(self.store.chunk_ids, item.pk)
        try:
            text = await blocking(to_text, item.key, data)
            return await self._index_text(instance, item, text, old_ids, started, progress)
        except UnreadableDocument as exc:
            return await self._fail(instance, item, old_ids, exc.message, exc.kind, started)
        except KumoError as exc:
            return await self._fail(instance, item, old_ids, exc.message, "indexing_error", started)
        except Exception as exc:  # one bad item must not end a sync: record it and go on
            log.exception("indexing %s failed", item.key)
            return await self._fail(instance, item, old_ids, f"internal error while indexing: {exc}",
                                    "internal_error", started)

    async def _index_text(self, instance: InstanceRecord, item: ItemRecord, text: str, old_ids: list[str],
                          started: float, progress: Progress | None) -> ItemRecord:
        config = instance.config
        pieces = chunk_text(text, config["chunk_size"], config["chunk_overlap"], config["chunk"])
        version = item.checksum[:8]
        chunks = [NewChunk(f"{item.id}-{version}-{p.position}", p.position, p.text, p.start_byte, p.end_byte)
                  for p in pieces]
        if config["index_method"]["vector"] and instance.vector_index:
            vectors = await self.embed(config["embedding_model"], [c.text for c in chunks], progress)
            await blocking(self._write_vectors, instance, item, chunks, vectors)
        elif progress is not None:
            progress(len(chunks))
        record = await blocking(
            self.store.replace_chunks, item.pk, chunks,
            keyword=tokenizer_of(config) if config["index_method"]["keyword"] else None,
            status="completed", error=None, index_signature=index_config_signature(config), now=iso_now())
        await blocking(self.store.purge_cache, instance.pk)  # cached answers may quote what changed
        stale = sorted(set(old_ids) - {c.chunk_id for c in chunks})
        await blocking(self._delete_vectors, instance, stale)
        await self._log(instance, item, "index", len(chunks), None,
                        f"indexed {len(chunks)} chunks ({len(text)} characters)", started)
        return record

    async def _fail(self, instance: InstanceRecord, item: ItemRecord, old_ids: list[str], message: str, kind: str,
                    started: float) -> ItemRecord:
        # the item's previous chunks described content it no longer has: they leave both indexes
        await blocking(self._delete_vectors, instance, old_ids)
        record = await blocking(self.store.replace_chunks, item.pk, [], keyword=None, status="error",
                                         error=message, index_signature=None, now=iso_now())
        await blocking(self.store.purge_cache, instance.pk)
        await self._log(instance, item, "index", 0, kind, message, started)
        return record

    async def remove(self, instance: InstanceRecord, item: ItemRecord, reason: str) -> None:
        started = time.perf_counter()
        ids = await blocking(self.store.chunk_ids, item.pk)
        await blocking(self._delete_vectors, instance, ids)
        await blocking(self.store.delete_item, item.pk)
        await blocking(self.store.purge_cache, instance.pk)
        await self._log(instance, item, "delete", len(ids), None, reason, started)

    def orphan_vectors(self, instance: InstanceRecord) -> list[str]:
        """Vectors of the instance's index with no chunk row: left by a crash between the write steps above."""
        if not instance.vector_index:
            return []
        known = self.store.instance_chunk_ids(instance.pk)
        orphans: list[str] = []
        cursor = None
        while True:
            page = self.vectorize.list_vectors(instance.account, instance.vector_index, 1000, cursor)
            orphans.extend(v["id"] for v in page["vectors"] if v["id"] not in known)
            cursor = page.get("nextCursor")
            if not page.get("isTruncated") or not cursor:
                return orphans

    def remove_orphans(self, instance: InstanceRecord) -> int:
        orphans = self.orphan_vectors(instance)
        self._delete_vectors(instance, orphans)
        return len(orphans)

    def _write_vectors(self, instance: InstanceRecord, item: ItemRecord, chunks: list[NewChunk],
                       vectors: np.ndarray) -> None:
        assert instance.vector_index, "vectors are written for instances with an index only"
        filterable = index_types(instance.config)
        base = {k: v for k, v in item.metadata.items() if k in filterable}
        base["key"] = item.key
        for start in range(0, len(chunks), VECTOR_BATCH):
            part = chunks[start : start + VECTOR_BATCH]
            batch = VectorBatch([c.chunk_id for c in part], vectors[start : start + len(part)], [None] * len(part),
                                [{**base, "part": c.position} for c in part])
            self.vectorize.write(instance.account, instance.vector_index, batch, upsert=True)

    def _delete_vectors(self, instance: InstanceRecord, ids: list[str]) -> None:
        if not ids or not instance.vector_index:
            return
        for start in range(0, len(ids), VECTOR_BATCH):
            self.vectorize.delete_by_ids(instance.account, instance.vector_index, ids[start : start + VECTOR_BATCH])

    async def _log(self, instance: InstanceRecord, item: ItemRecord, action: str, chunks: int, error_type: str | None,
                   message: str, started: float) -> None:
        entry = ItemLog(action, item.key, chunks, error_type, message, int((time.perf_counter() - started) * 1000),
                        iso_now())
        await blocking(self.store.add_item_log, instance.pk, item.id, entry)
        await blocking(self.store.touch_instance, instance.pk, entry.timestamp)
