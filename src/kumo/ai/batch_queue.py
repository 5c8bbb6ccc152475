"""The asynchronous batch API (`?queueRequest=true`): jobs are stored durably, then run by workers inside
kumo (and in `kumo worker` processes when scaled out); clients poll with the `request_id`. Each worker
claims a job with a lease it renews while the job runs, so the job of a killed worker is taken again.
Embedded, a restart puts jobs that were running back in the queue at once."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import socket
import uuid
from typing import Any

from kumo.ai.service import AiService
from kumo.ai.store import BatchJob, BatchStore
from kumo.api.threads import blocking
from kumo.errors import InvalidRequest, KumoError, NotFound
from kumo.queue_poll import idle_poll
from kumo.timestamps import iso_now

log = logging.getLogger("kumo.ai.batch_queue")
MAX_REQUESTS = 500
CONCURRENCY = 8  # requests of one job in flight at once (they share micro-batches)


class BatchQueue:
    def __init__(self, store: BatchStore, ai: AiService, *, exclusive: bool = True):
        self.store = store
        self.ai = ai
        self.exclusive = exclusive  # this process alone runs the queue (embedded SQLite)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None

    def submit(self, account: str, model: str, body: Any) -> dict[str, Any]:
        self.ai.entry(model)  # unknown model: error now, not in the job
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            raise InvalidRequest("a batch needs `requests`: a non-empty array of model inputs", code=5006)
        if len(requests) > MAX_REQUESTS:
            raise InvalidRequest(f"a batch holds at most {MAX_REQUESTS} requests", code=5006)
        if not all(isinstance(r, dict) for r in requests):
            raise InvalidRequest("each batch request must be a JSON object (a model input)", code=5006)
        job = BatchJob(str(uuid.uuid4()), account, model, "queued", requests, None, None, 0,
                       iso_now("microseconds"))
        self.store.add(job)
        self._notify()
        return {"status": "queued", "request_id": job.id, "model": model}

    def _notify(self) -> None:
        """Wake the worker; `submit` may run on another thread (kumo.Env's caller), where setting an asyncio
        Event would not wake the loop, so the job would wait for the next look at the database."""
        if self._wake is None or self._loop is None:
            return
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is self._loop:
            self._wake.set()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    def poll(self, account: str, request_id: Any) -> dict[str, Any]:
        job = self.store.get(account, request_id) if isinstance(request_id, str) else None
        if job is None:
            raise NotFound(f"no batch request {request_id!r} in this account", code=5007)
        if job.status != "done":
            return {"status": job.status, "request_id": job.id, "model": job.model,
                    "progress": {"done": job.done_count, "total": len(job.requests)}}
        return {"responses": job.responses, "usage": job.usage}

    # ---- workers ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker on the running event loop."""
        if self.exclusive:
            requeued = self.store.requeue_running()
            if requeued:
                log.info("resuming %d batch job(s) interrupted by a restart", requeued)
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._work())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    async def _work(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()  # before the claim: a job submitted from here on wakes the wait below
            try:
                job = await blocking(self.store.claim_next, self.owner)
            except KumoError as exc:  # the database is unreachable: try again shortly
                log.warning("batch queue: %s", exc.message)
                await asyncio.sleep(1.0)
                continue
            if job is None:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=idle_poll(self.exclusive))
                except asyncio.TimeoutError:
                    pass
                continue
            try:
                await self._run(job)
            except asyncio.CancelledError:
                raise
            except Exception:  # a job must never kill the worker; its lease runs out and it is run again
                log.exception("batch job %s failed", job.id)

    async def _keep_lease(self, job_id: str) -> None:
        while True:
            await asyncio.sleep(self.store.lease_seconds / 3)
            try:
                await blocking(self.store.renew, job_id, self.owner)
            except KumoError as exc:
                log.warning("batch job %s: lease not renewed: %s", job_id, exc.message)

    async def _run(self, job: BatchJob) -> None:
        heartbeat = asyncio.get_running_loop().create_task(self._keep_lease(job.id))
        try:
            await self._run_requests(job)
        finally:
            heartbeat.cancel()

    async def _run_requests(self, job: BatchJob) -> None:
        limit = asyncio.Semaphore(CONCURRENCY)
        done = 0

        async def one(index: int, request: dict[str, Any]) -> dict[str, Any]:
            nonlocal done
            request = dict(request)
            reference = request.pop("external_reference", None)
            request.pop("stream", None)
            async with limit:
                try:
                    result = await self.ai.run(job.model, request)
                    output = result.output.result
                    if isinstance(output, bytes):  # an image: JSON carries it as base64
                        output = {"image": base64.b64encode(output).decode()}
                    item = {"id": index, "result": output, "success": True,
                            "external_reference": reference}
                    usage = result.output.usage
                except KumoError as exc:
                    item = {"id": index, "result": {"error": exc.message, "code": exc.code}, "success": False,
                            "external_reference": reference}
                    usage = {}
            done += 1
            if done % 10 == 0:
                await blocking(self.store.renew, job.id, self.owner, done)
            return item | {"_usage": usage}

        items = await asyncio.gather(*(one(i, r) for i, r in enumerate(job.requests)))
        totals = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        for item in items:
            for key in totals:
                totals[key] += int(item["_usage"].get(key, 0) or 0)
            del item["_usage"]
        if await blocking(self.store.finish, job.id, items, totals, self.owner):
            log.info("batch job %s done: %d requests", job.id, len(items))
        else:
            log.warning("batch job %s: another worker took it over after this one's lease ran out", job.id)
