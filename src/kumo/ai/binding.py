"""`env.AI`: the Workers AI binding's shape in process — `run(model, inputs, options)`, same answers as HTTP.

`inputs` may carry `stream: true` (returns an iterator of events) and `options` may carry
`queueRequest: true` (the batch API: submit `{requests}` or poll `{request_id}`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

from kumo.ai.batch_queue import BatchQueue
from kumo.ai.service import AiService
from kumo.custom_models import PREFIX as CUSTOM_PREFIX

T = TypeVar("T")


class EventLoopThread:
    """An asyncio loop on a daemon thread, so synchronous callers can use the async services."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="kumo-env-loop", daemon=True)
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        """Cancel what still runs on the loop (e.g. a micro-batcher's worker), then stop and close it: a task
        left pending on a loop that is later collected fails noisily at interpreter exit."""
        async def cancel_the_rest() -> None:
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(cancel_the_rest(), self.loop).result(timeout=10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()


class AiBinding:
    def __init__(self, service: AiService, batches: BatchQueue, account_id: str, loop: EventLoopThread,
                 custom_models=None):
        self._service = service
        self._custom = custom_models  # @custom/<name>: a team's own models (custom_models/)
        self._batches = batches
        self._account = account_id
        self._loop = loop

    def run(self, model: str, inputs: Any, options: dict[str, Any] | None = None) -> Any:
        options = options or {}
        if options.get("queueRequest"):
            if isinstance(inputs, dict) and "request_id" in inputs:
                return self._batches.poll(self._account, inputs["request_id"])
            return self._batches.submit(self._account, model, inputs)
        if model.startswith(CUSTOM_PREFIX) and self._custom is not None:
            caller = options.get("caller_key")  # sticks the caller to one version of a split
            return self._loop.call(self._custom.run(self._account, model, inputs, caller))[0]
        if isinstance(inputs, dict) and inputs.get("stream") is True:
            return self._stream(model, inputs)
        return self._loop.call(self._service.run(model, inputs)).output.result

    def _stream(self, model: str, inputs: dict[str, Any]) -> Iterator[dict[str, Any]]:
        _, events = self._loop.call(self._service.stream(model, inputs))
        try:
            while True:
                try:
                    yield self._loop.call(events.__anext__())
                except StopAsyncIteration:
                    return
        finally:  # a caller that stops iterating early stops the model too
            self._loop.call(events.aclose())

    def models(self, task: str | None = None, search: str | None = None) -> list[dict[str, Any]]:
        return [e.as_json() for e in self._service.catalog.search(task=task, search=search)]
