"""Indexing runs ("jobs") and the work they do: syncing a source (an R2 bucket or a folder, datasource.py)
incrementally (an object whose version and the instance's indexing settings are unchanged is not read twice
or embedded again; one that left the source leaves both indexes), re-indexing uploaded items that need it, and the scheduler that starts a
sync every `sync_interval`. One instance indexes one thing at a time (a lock per instance, see `locks.py`).

Several nodes may share the store (`shared`): each runs a scheduler, and the store lets only one of them open a
job for an instance; a running job renews its lease every second and learns there whether a node asked it
to stop; a job whose node died is closed as interrupted once its lease runs out."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from kumo.aisearch.instance_config import index_config_signature
from kumo.aisearch.datasource import BucketSource, Entry, FolderSource, TooLarge, source_of
from kumo.aisearch.errors import bad_config
from kumo.aisearch.indexing import Indexer
from kumo.aisearch.locks import InstanceLocks, LocalLocks
from kumo.aisearch.metadata import built_in, parse_custom
from kumo.aisearch.store import AiSearchStore, InstanceRecord, ItemRecord, JobRecord
from kumo.r2.service import R2Service
from kumo.api.threads import blocking
from kumo.timestamps import iso, iso_now

log = logging.getLogger("kumo.aisearch")


@dataclass
class RunState:
    """A running job's progress, and whether someone asked it to stop (it stops between two items, so an
    item is never left half indexed by a cancel)."""

    done: int = 0
    total: int = 0
    cancelled: bool = False


class JobCancelled(Exception):
    pass

INFO, WARNING, ERROR = 0, 1, 2  # job log message types
SCHEDULER_TICK = 30.0  # seconds between looks at which instances are due for a sync
LEASE_SECONDS = 30.0  # shared: a job not renewed for this long is taken for dead
RENEW_SECONDS = 1.0  # shared: also how soon a cancel asked through another node is seen


DataSource = FolderSource | BucketSource


class Jobs:
    def __init__(self, store: AiSearchStore, indexer: Indexer, locks: InstanceLocks | None = None,
                 shared: bool = False, r2: R2Service | None = None):
        self.store = store
        self.r2 = r2
        self.indexer = indexer
        self.locks = locks or LocalLocks()
        self.shared = shared
        self._running: dict[int, tuple[int, asyncio.Task]] = {}  # instance pk -> (job pk, task)
        self._background: set[asyncio.Task] = set()
        self._scheduler: asyncio.Task | None = None
        self.runs: dict[int, RunState] = {}  # running job pk -> its state

    def lock(self, instance_pk: int):
        return self.locks.hold(instance_pk)

    # ---- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        interrupted = await blocking(self._interrupt_dead)
        if interrupted:
            log.info("AI Search: %d indexing job(s) were interrupted by the last shutdown", interrupted)
        self._scheduler = asyncio.create_task(self._schedule_forever(), name="kumo-aisearch-scheduler")

    async def stop(self) -> None:
        tasks = [t for _, t in self._running.values()] + list(self._background)
        if self._scheduler is not None:
            tasks.append(self._scheduler)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _interrupt_dead(self) -> int:
        """Close the jobs nobody runs any more: embedded, every unfinished one (this process just started);
        shared, those whose lease ran out (other nodes' jobs are alive)."""
        return self.store.interrupt_unfinished_jobs(iso_now(), expired_only=self.shared)

    def in_background(self, coro: Awaitable) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ---- jobs ---------------------------------------------------------------------------------------
    async def running_job(self, instance_pk: int) -> int | None:
        """The instance's running job: here, or (shared) on any node."""
        here = self.running_job_here(instance_pk)
        if here is not None or not self.shared:
            return here
        return await blocking(self.store.running_job, instance_pk)

    async def start_job(self, instance: InstanceRecord, source: str, description: str | None) -> JobRecord:
        job = await self.try_start(instance, source, description)
        if job is None:
            raise bad_config(f"a sync job is already running for instance {instance.id!r}; wait for it to end "
                             "or cancel it (PATCH .../jobs/{job_id} with action=cancel)")
        return job

    async def try_start(self, instance: InstanceRecord, source: str, description: str | None,
                        not_since: str | None = None) -> JobRecord | None:
        """Start a job unless the instance has one running (on any node) or, given `not_since`, one started
        after that time."""
        if self.running_job_here(instance.pk) is not None:
            return None
        job = await blocking(self.store.create_job, instance.pk, str(uuid.uuid4()), source, description,
                                      iso_now(), lease_until=time.time() + LEASE_SECONDS if self.shared else None,
                                      not_since=not_since)
        if job is not None:
            task = asyncio.create_task(self._run(instance, job), name=f"kumo-aisearch-job-{job.id}")
            self._running[instance.pk] = (job.pk, task)
        return job

    def running_job_here(self, instance_pk: int) -> int | None:
        entry = self._running.get(instance_pk)
        return entry[0] if entry and not entry[1].done() else None

    async def wait(self, instance_pk: int, job_pk: int | None = None) -> None:
        """Until the instance's job here (or job `job_pk`, wherever it runs) has ended."""
        entry = self._running.get(instance_pk)
        if entry is not None and job_pk in (None, entry[0]):
            await asyncio.gather(entry[1], return_exceptions=True)
            return
        while self.shared and job_pk is not None \
                and await blocking(self.store.running_job, instance_pk) == job_pk:
            await asyncio.sleep(0.2)

    async def cancel(self, instance_pk: int, job_pk: int) -> bool:
        """Ask the job to stop (between two items); False if it is not running."""
        entry = self._running.get(instance_pk)
        if entry is not None and entry[0] == job_pk and not entry[1].done() and job_pk in self.runs:
            self.runs[job_pk].cancelled = True
            return True
        return self.shared and await blocking(self.store.request_cancel, job_pk)

    async def _run(self, instance: InstanceRecord, job: JobRecord) -> None:
        note = self._logger(job)
        reason = "completed"
        state = self.runs[job.pk] = RunState()
        lease = asyncio.create_task(self._keep_lease(job, state)) if self.shared else None
        try:
            async with self.lock(instance.pk):
                await self.sync(instance, note, state)
        except JobCancelled:
            reason = "cancelled"
            await note(WARNING, "the job was cancelled; items indexed so far stay indexed")
        except asyncio.CancelledError:  # kumo is shutting down; the next start marks leftovers interrupted
            reason = "interrupted"
            raise
        except Exception as exc:  # recorded on the job, which a person can read through the API
            log.exception("AI Search job %s failed", job.id)
            reason = "error"
            await note(ERROR, f"the job failed: {getattr(exc, 'message', None) or exc}")
        finally:
            if lease is not None:
                lease.cancel()
            await asyncio.shield(blocking(self.store.finish_job, job.pk, reason, iso_now()))
            self._running.pop(instance.pk, None)
            self.runs.pop(job.pk, None)

    async def _keep_lease(self, job: JobRecord, state: RunState) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            try:
                answer = await blocking(self.store.renew_job, job.pk, time.time() + LEASE_SECONDS)
            except Exception:  # PostgreSQL away for a moment: try again; the lease is long enough
                log.warning("AI Search job %s: could not renew its lease", job.id, exc_info=True)
                continue
            if answer is None or answer:  # closed by another node (lease lost) or asked to stop
                state.cancelled = True

    def _logger(self, job: JobRecord) -> Callable[[int, str], Awaitable[None]]:
        async def note(kind: int, message: str) -> None:
            await blocking(self.store.add_job_log, job.pk, message, kind, time.time())
        return note

    # ---- the work -----------------------------------------------------------------------------------
    async def sync(self, instance: InstanceRecord, note: Callable[[int, str], Awaitable[None]],
                   state: RunState | None = None) -> dict[str, int]:
        """Bring the indexes in line with the source (call with the instance's lock held)."""
        state = state if state is not None else RunState()
        removed = await blocking(self.indexer.remove_orphans, instance)
        if removed:
            await note(WARNING, f"removed {removed} vectors left behind by an interrupted indexing")
        source = self.source_of(instance)
        if source is not None:
            counts = await self._sync_source(instance, source, note, state)
        else:
            counts = await self._reindex_managed(instance, note, state)
        await note(INFO, "sync finished: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
        await blocking(self.store.touch_instance, instance.pk, iso_now())
        return counts

    def source_of(self, instance: InstanceRecord) -> DataSource | None:
        return source_of(instance.config, instance.account, self.r2)

    async def _sync_source(self, instance: InstanceRecord, source: DataSource,
                           note: Callable[[int, str], Awaitable[None]], state: RunState) -> dict[str, int]:
        params = instance.config.get("source_params") or {}
        entries = await source.scan(params)
        existing, _ = await blocking(self.store.list_items, instance.pk)
        by_key = {item.key: item for item in existing}
        signature = index_config_signature(instance.config)
        counts = {"indexed": 0, "unchanged": 0, "deleted": 0, "errors": 0}
        await note(INFO, f"sync started: {len(entries)} files in {source.where}")
        state.total = len(entries) + len(set(by_key) - {e.key for e in entries})
        for entry in entries:
            if state.cancelled:
                raise JobCancelled
            state.done += 1
            item = by_key.pop(entry.key, None)
            # the item as indexed now, when it is indexed with today's settings
            current = item if item is not None and item.status == "completed" and \
                item.index_signature == signature else None
            if current is not None and source.unchanged(current, entry):
                counts["unchanged"] += 1  # same version: not even read
                continue
            try:
                data = await source.read(entry.key)
            except (OSError, TooLarge) as exc:
                counts["errors"] += 1
                await note(ERROR, f"{entry.key}: cannot read it: {exc}")
                continue
            if data is None:  # gone between the listing and the read
                if item is not None:
                    by_key[entry.key] = item
                continue
            checksum = source.checksum(data, entry)
            if current is not None and current.checksum == checksum:
                counts["unchanged"] += 1  # touched but identical bytes: keep its chunks and vectors
                if current.metadata.get("timestamp") != entry.timestamp_ms:
                    await blocking(self.store.put_item, instance.pk, current.id, current.key, current.source_id,
                                   checksum, current.file_size, _metadata(instance, entry), None, "completed",
                                   iso_now())
                continue
            record = await self._index_entry(instance, source, entry, data, item.id if item else None)
            if record.status == "error":
                counts["errors"] += 1
                await note(ERROR, f"{entry.key}: {record.error}")
            else:
                counts["indexed"] += 1
        for item in by_key.values():  # gone from the source: gone from the indexes
            if state.cancelled:
                raise JobCancelled
            state.done += 1
            await self.indexer.remove(instance, item, f"the file left the source ({source.where})")
            counts["deleted"] += 1
        return counts

    async def _index_entry(self, instance: InstanceRecord, source: DataSource, entry: Entry, data: bytes,
                           item_id: str | None) -> ItemRecord:
        record = await blocking(
            self.store.put_item, instance.pk, item_id or str(uuid.uuid4()), entry.key, source.id,
            source.checksum(data, entry), len(data), _metadata(instance, entry), None, "queued", iso_now())
        return await self.indexer.index(instance, record, data)

    async def _reindex_managed(self, instance: InstanceRecord, note: Callable[[int, str], Awaitable[None]],
                               state: RunState) -> dict[str, int]:
        signature = index_config_signature(instance.config)
        items, _ = await blocking(self.store.list_items, instance.pk)
        to_index = [i for i in items if i.status != "completed" or i.index_signature != signature]
        await note(INFO, f"sync started: {len(items)} uploaded items, {len(to_index)} to index")
        counts = {"indexed": 0, "unchanged": len(items) - len(to_index), "errors": 0}
        state.total = len(to_index)
        for item in to_index:
            if state.cancelled:
                raise JobCancelled
            state.done += 1
            record = await self.reindex(instance, item)
            if record.status == "error":
                counts["errors"] += 1
                await note(ERROR, f"{item.key}: {record.error}")
            else:
                counts["indexed"] += 1
        return counts

    async def index_key(self, instance: InstanceRecord, key: str) -> ItemRecord | None:
        """Index the source's object `key` now (None if the source has no such key)."""
        source = self.source_of(instance)
        if source is None:
            return None
        entry = await source.entry(key)
        if entry is None:
            return None
        item = await blocking(self.store.get_item_by_key, instance.pk, key)
        data = await source.read(key)
        if data is None:
            return None
        return await self._index_entry(instance, source, entry, data, item.id if item else None)

    async def reindex(self, instance: InstanceRecord, item: ItemRecord) -> ItemRecord:
        """Index an item again: from its stored bytes (uploads) or from its source as it is now."""
        source = self.source_of(instance)
        if source is None:
            data = await blocking(self.store.item_content, item.pk)
            return await self.indexer.index(instance, item, data or b"")
        try:
            entry = await source.entry(item.key)
            data = await source.read(item.key) if entry is not None else None
        except (OSError, TooLarge) as exc:
            entry, data, reason = None, None, str(exc)
        else:
            reason = f"the file is no longer in the source ({source.where})"
        if entry is None or data is None:
            await self.indexer.remove(instance, item, reason)
            return replace(item, status="error", error=reason, chunks_count=0)
        return await self._index_entry(instance, source, entry, data, item.id)

    # ---- the schedule -------------------------------------------------------------------------------
    async def _schedule_forever(self) -> None:
        while True:
            try:
                await self._start_due_syncs()
            except asyncio.CancelledError:
                raise
            except Exception:  # the scheduler must outlive one bad tick
                log.exception("AI Search scheduler tick failed")
            await asyncio.sleep(SCHEDULER_TICK)

    async def _start_due_syncs(self) -> None:
        """Every node ticks; the store opens a due instance's job for one of them only."""
        if self.shared:
            await blocking(self._interrupt_dead)
        now = datetime.now(timezone.utc)
        for instance in await blocking(self.store.all_instances):
            config = instance.config
            if not config.get("source") or config.get("paused"):
                continue
            await self.try_start(instance, "schedule", "scheduled sync",
                                 not_since=iso(now - timedelta(seconds=config["sync_interval"])))


def _metadata(instance: InstanceRecord, entry: Entry) -> dict:
    """Built-in fields, plus the object's own metadata typed by the instance's schema (R2: x-amz-meta-*)."""
    custom, _ = parse_custom(entry.custom, instance.config) if entry.custom else ({}, [])
    return {**built_in(entry.key, entry.timestamp_ms), **custom}

