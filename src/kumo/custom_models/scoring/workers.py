"""The loop that runs scoring jobs, in `kumo serve` and in `kumo worker` processes alike: claim a chunk of rows
(a lease, renewed while it is scored), score it, write it as a part object, record the part; when a job's last
chunk is done, compose the output from one part per chunk and delete the parts.

A worker killed at any point loses only the chunk it held: its lease runs out and another worker scores it
again into a new part; a part written by a worker that lost its lease is never recorded, so the output holds
every row exactly once."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import tempfile
import uuid
from functools import partial
from pathlib import Path
from typing import AsyncIterator, Callable

from kumo.custom_models.scoring import tables
from kumo.custom_models.scoring.jobs import MAX_ATTEMPTS, Chunk, ScoringJob
from kumo.custom_models.scoring.keys import part_key
from kumo.custom_models.scoring.service import ScoringService
from kumo.errors import KumoError
from kumo.api.threads import blocking
from kumo.queue_poll import idle_poll

log = logging.getLogger("kumo.custom_models.scoring")


class ScoringWorkers:
    def __init__(self, service: ScoringService, *, exclusive: bool = True, concurrency: int = 2):
        self.service = service
        self.store = service.store
        self.r2 = service.r2
        self.exclusive = exclusive  # this process alone runs the jobs (embedded SQLite)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.concurrency = concurrency  # chunks in flight: models predict outside the GIL, on several cores
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        if self.exclusive:
            requeued = self.store.requeue_running()
            if requeued:
                log.info("resuming %d scoring chunk(s) or output(s) interrupted by a restart", requeued)
        self.service.submitted = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._work()) for _ in range(self.concurrency)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass

    async def _work(self) -> None:
        wake = self.service.submitted
        assert wake is not None
        while True:
            wake.clear()  # before the claim: a job submitted from here on wakes the wait below
            try:
                job = await blocking(self.store.claim_compose, self.owner)
                chunk = None if job else await blocking(self.store.claim_chunk, self.owner)
            except KumoError as exc:  # the database is unreachable: try again shortly
                log.warning("scoring: %s", exc.message)
                await asyncio.sleep(1.0)
                continue
            if job is not None:
                job_id, renew = job.id, partial(self.store.renew_compose, job.id, self.owner)
                work = self._compose(job)
            elif chunk is not None:
                job_id, renew = chunk.job_id, partial(self.store.renew_chunk, chunk.job_id, chunk.idx, self.owner)
                work = self._score(chunk)
            else:
                try:
                    await asyncio.wait_for(wake.wait(), timeout=idle_poll(self.exclusive))
                except asyncio.TimeoutError:
                    pass
                continue
            wake.set()  # work found: there may be more, and the other workers may have missed the wake-up
            try:
                await self._leased(renew, work)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a job must never kill the worker
                await self._failed(job_id, chunk, exc)

    async def _leased(self, renew: Callable[[], bool], work) -> None:
        async def keep() -> None:
            while True:
                await asyncio.sleep(self.store.lease_seconds / 3)
                try:
                    await blocking(renew)
                except KumoError as exc:
                    log.warning("scoring: lease not renewed: %s", exc.message)

        heartbeat = asyncio.get_running_loop().create_task(keep())
        try:
            await work
        finally:
            heartbeat.cancel()

    async def _failed(self, job_id: str, chunk: Chunk | None, exc: Exception) -> None:
        """What the caller got wrong (a 4xx: the model version deleted, the input changed) fails the job at once;
        anything else gives the chunk back, and fails the job only after MAX_ATTEMPTS."""
        message = exc.message if isinstance(exc, KumoError) else f"{type(exc).__name__}: {exc}"
        try:
            if isinstance(exc, KumoError) and exc.status < 500:
                final = True
            elif chunk is not None:
                final = await blocking(self.store.release_chunk, job_id, chunk.idx, self.owner) \
                    >= MAX_ATTEMPTS
            else:
                final = False  # composing: its lease runs out and it is tried again
            if final:
                log.warning("scoring job %s failed: %s", job_id, message)
                if await blocking(self.store.fail, job_id, message):
                    job = await blocking(self.store.job, job_id)
                    await self.service.drop_parts(job)
            else:
                log.exception("scoring job %s: will retry", job_id, exc_info=exc)
        except KumoError as db:
            log.warning("scoring job %s: %s (and the database: %s)", job_id, message, db.message)

    # ---- one chunk ----------------------------------------------------------------------------------------------

    async def _score(self, chunk: Chunk) -> None:
        job = await blocking(self.store.job, chunk.job_id)
        if job is None or job.status != "running":
            return
        table = (await self.service.table(job)).slice(chunk.start_row, chunk.rows)
        scored = await (await self.service.scorer(job)).score(table)
        for name, values in scored.items():
            table = table.append_column(name, values)
        output = job.spec["output"]
        data = await blocking(tables.write_part, table, output["format"])
        part = part_key(output["key"], job.id, chunk.idx, output["format"])
        await self.r2.put_bytes(job.account, output["bucket"], part, data)
        if not await blocking(self.store.finish_chunk, job.id, chunk.idx, self.owner, part):
            log.warning("scoring job %s chunk %d: taken over by another worker; its part is dropped", job.id,
                        chunk.idx)
            await self.r2.delete_object(job.account, output["bucket"], part)
            return
        if self.service.submitted is not None:
            self.service.submitted.set()  # the last chunk makes the job composable: no need to wait for the poll

    # ---- the output ---------------------------------------------------------------------------------------------

    async def _compose(self, job: ScoringJob) -> None:
        output, account = job.spec["output"], job.account
        parts = await blocking(self.store.part_keys, job.id)
        if output["format"] == "parquet":
            info = await self._compose_parquet(job, parts)
        else:
            info = await self.r2.put_object(account, output["bucket"], output["key"], self._concatenated(job, parts))
        if await blocking(self.store.finish_compose, job.id, self.owner, info.etag):
            log.info("scoring job %s done: %d rows into r2://%s/%s", job.id, job.rows_total, output["bucket"],
                     output["key"])
            await self.service.drop_parts(job)

    async def _read(self, job: ScoringJob, key: str) -> AsyncIterator[bytes]:
        result = await self.r2.get_object(job.account, job.spec["output"]["bucket"], key)
        async for chunk in result.reader.chunks():
            yield chunk

    async def _concatenated(self, job: ScoringJob, parts: list[str]) -> AsyncIterator[bytes]:
        """CSV and JSONL: the parts one after the other (CSV's header first)."""
        if job.spec["output"]["format"] == "csv":
            yield tables.csv_header(job.spec["input_columns"] + job.spec["prediction_columns"])
        for key in parts:
            async for chunk in self._read(job, key):
                yield chunk

    async def _compose_parquet(self, job: ScoringJob, parts: list[str]):
        """Parquet: each part's row groups copied into one file, then that file uploaded."""
        import pyarrow.parquet as pq

        output = job.spec["output"]
        self.service.work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.service.work_dir) as tmp:
            target, writer = os.path.join(tmp, "output.parquet"), None
            try:
                for key in parts:
                    part = os.path.join(tmp, "part.parquet")
                    await self.r2.download_to(job.account, output["bucket"], key, Path(part))
                    table = await blocking(pq.read_table, part)
                    if writer is None:
                        writer = pq.ParquetWriter(target, table.schema)
                    await blocking(writer.write_table, table)
            finally:
                if writer is not None:
                    writer.close()
            return await self.r2.put_object(job.account, output["bucket"], output["key"], _file_chunks(target))


async def _file_chunks(path: str, size: int = 1 << 20) -> AsyncIterator[bytes]:
    with open(path, "rb") as f:
        while True:
            data = await blocking(f.read, size)
            if not data:
                return
            yield data
