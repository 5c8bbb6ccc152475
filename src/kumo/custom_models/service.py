"""Custom models' service: registering versions of a team's own models (their files in R2), choosing the
served one, and predicting with it. Knows nothing of HTTP."""

from __future__ import annotations

import asyncio
import logging
import random
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from kumo.ai.micro_batcher import MicroBatcher
from kumo.custom_models import PREFIX, formats
from kumo.custom_models.cache import LoadedModels
from kumo.custom_models.call_log import Call, CallLog, caller_hash, prediction_json
from kumo.custom_models.compare import compare, version_stats
from kumo.custom_models.features import rows_of
from kumo.custom_models.files import ModelFiles
from kumo.custom_models.registry import Conflict, CustomModel, ModelVersion, model_name, version_name
from kumo.custom_models.registry_cache import RegistryCache
from kumo.errors import InvalidRequest, KumoError, NotFound
from kumo.metrics import Metrics
from kumo.r2.errors import R2Error
from kumo.api.threads import blocking


log = logging.getLogger("kumo.custom_models")
SHADOW_BACKLOG = 64  # shadow calls in flight at most: beyond it copies are dropped rather than slow the node
COMPARE_CALLS = 200_000  # a comparison reads at most the newest this many calls of the two versions


def _error_text(exc: Exception) -> str:
    return exc.message if isinstance(exc, KumoError) else f"{type(exc).__name__}: {exc}"


class ObjectChanged(KumoError):
    status = 409
    code = 10027


def parse_source(source: Any) -> tuple[str, str]:
    if not isinstance(source, str) or not source.startswith("r2://") or "/" not in source[5:]:
        raise InvalidRequest(f"source {source!r}: give the model file as r2://BUCKET/KEY", code=10021)
    bucket, key = source[5:].split("/", 1)
    if not bucket or not key:
        raise InvalidRequest(f"source {source!r}: give the model file as r2://BUCKET/KEY", code=10021)
    return bucket, key


class CustomModelService:
    def __init__(self, store, r2, files_dir: Path, max_bytes: int = 1 << 30, *, disk_bytes: int = 10 << 30,
                 registry_ttl: float | None = None, call_log_rows: int = 100_000):
        self.store = store
        self.r2 = r2
        self.files = ModelFiles(files_dir, disk_bytes)
        self.loaded = LoadedModels(max_bytes)
        self.registry = RegistryCache(registry_ttl)
        self.calls = CallLog(store, call_log_rows)
        # concurrent one-row calls of one model share a predict: its fixed cost (Python, ONNX Runtime's run,
        # a forest's tree walk set-up) is paid once per batch instead of once per row
        self.batcher = MicroBatcher(self._predict_rows, max_items=256, target_seconds=0.005)
        self._loading: dict[tuple, asyncio.Lock] = {}
        self._shadows: set[asyncio.Task] = set()  # held so they are not collected mid-flight
        self.metrics: Metrics | None = None  # set by the platform

    def _predict_rows(self, model, rows: list[np.ndarray]) -> list[tuple[Any, list[float] | None]]:
        """One predict over the one-row calls that came in together (the micro-batcher's batch)."""
        if self.metrics:
            self.metrics.custom_batch_rows.observe(len(rows))
        predictions, probabilities = model.predict(np.stack(rows))
        return list(zip(predictions, probabilities if probabilities is not None else [None] * len(predictions)))

    def close(self) -> None:
        self.calls.close()  # what is still queued gets written
        self.batcher.close()

    def _changed(self, account: str, name: str) -> None:
        self.registry.forget((account, name))

    # registry

    async def register(self, account: str, name: str, version: Any, source: Any, trusted: Any = False,
                       fmt: Any = None) -> dict[str, Any]:
        """Check that the file is there and loads as a model of its format, then record the version: a version
        that would fail to serve is never registered."""
        name, version = model_name(name), version_name(version)
        if not isinstance(trusted, bool):
            raise InvalidRequest(f"trusted must be true or false, not {trusted!r}", code=10021)
        bucket, key = parse_source(source)
        fmt = formats.format_of(key, fmt)
        formats.refuse_untrusted(fmt, trusted)
        if await blocking(self.store.version, account, name, version):
            raise Conflict(f"version {version!r} of {PREFIX}{name} already exists; versions are immutable")
        staging = self.files.staging()
        try:
            path = staging / ("model" + Path(key).suffix.lower())
            info = await self._download(account, bucket, key, path)
            model = await blocking(formats.load, fmt, path, trusted)
            registered = ModelVersion(name, version, fmt, bucket, key, info.etag, info.size, trusted,
                                      model.signature)
            registered = await blocking(self.store.add_version, account, registered)
            final = self._file(account, registered)
            final.parent.mkdir(parents=True, exist_ok=True)
            path.replace(final)
            await blocking(self.files.added, final)
            self.loaded.put((account, name, version, info.etag), model, info.size)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self._changed(account, name)
        model_row = await blocking(self.store.model, account, name)
        return registered.describe(model_row.served if model_row else None)

    async def _download(self, account: str, bucket: str, key: str, path: Path):
        try:
            return await self.r2.download_to(account, bucket, key, path)
        except R2Error as exc:
            if exc.status == 404:
                raise NotFound(f"r2://{bucket}/{key} does not exist: {exc.message}", code=10028) from None
            raise

    def _file(self, account: str, v: ModelVersion) -> Path:
        return self.files.path(account, v.name, v.version, v.etag, Path(v.key).suffix.lower())

    def _model(self, account: str, name: str):
        model = self.store.model(account, model_name(name))
        if model is None:
            raise NotFound(f"no custom model {PREFIX}{model_name(name)} in this account", code=10029)
        return model

    async def describe(self, account: str, name: str) -> dict[str, Any]:
        model = await blocking(self._model, account, name)
        versions = await blocking(self.store.versions, account, model.name)
        return {"model": PREFIX + model.name, "served_version": model.served, "created_on": model.created,
                "previously_served": model.history, "split": model.split, "shadow_version": model.shadow,
                "versions": [v.describe(model.served) for v in versions]}

    async def list_models(self, account: str) -> list[dict[str, Any]]:
        models = await blocking(self.store.models, account)
        return [{"model": PREFIX + m.name, "served_version": m.served, "split": m.split, "created_on": m.created}
                for m in models]

    async def versions(self, account: str, name: str) -> list[dict[str, Any]]:
        return (await self.describe(account, name))["versions"]

    async def version(self, account: str, name: str, version: str) -> dict[str, Any]:
        model = await blocking(self._model, account, name)
        found = await blocking(self.store.version, account, model.name, version)
        if found is None:
            raise NotFound(f"{PREFIX}{model.name} has no version {version!r}", code=10030)
        return found.describe(model.served)

    async def promote(self, account: str, name: str, version: str) -> dict[str, Any]:
        await self.version(account, name, version)  # 404 names what is missing
        model = await blocking(self.store.set_served, account, model_name(name), version)
        self._changed(account, model_name(name))
        if model is None:
            raise NotFound(f"no custom model {PREFIX}{model_name(name)} in this account", code=10029)
        return {"model": PREFIX + model.name, "served_version": model.served, "previously_served": model.history}

    async def rollback(self, account: str, name: str) -> dict[str, Any]:
        await blocking(self._model, account, name)
        model = await blocking(self.store.set_served, account, model_name(name), None)
        self._changed(account, model_name(name))
        if model is None:
            raise NotFound(f"no custom model {PREFIX}{model_name(name)} in this account", code=10029)
        return {"model": PREFIX + model.name, "served_version": model.served, "previously_served": model.history}

    async def split(self, account: str, name: str, weights: Any) -> dict[str, Any]:
        """Split traffic between versions by weight (None ends the split); sticky per caller key."""
        if weights is not None:
            if not isinstance(weights, dict) or len(weights) < 2:
                raise InvalidRequest('weights: an object of at least two versions, e.g. {"v1": 90, "v2": 10}',
                                     code=10021)
            for version, weight in weights.items():
                if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 1_000_000:
                    raise InvalidRequest(f"weight of {version!r}: a whole number from 0 to 1000000, not {weight!r}",
                                         code=10021)
            if sum(weights.values()) == 0:
                raise InvalidRequest("weights: at least one must be above 0", code=10021)
        await blocking(self._model, account, name)
        model = await blocking(self.store.set_split, account, model_name(name), weights)
        self._changed(account, model_name(name))
        if model is None:
            raise NotFound(f"no custom model {PREFIX}{model_name(name)} in this account", code=10029)
        return {"model": PREFIX + model.name, "served_version": model.served, "split": model.split}

    async def delete_version(self, account: str, name: str, version: str) -> None:
        name = model_name(name)
        if not await blocking(self.store.delete_version, account, name, version):
            raise NotFound(f"{PREFIX}{name} has no version {version!r}", code=10030)
        self._changed(account, name)
        self.loaded.drop((account, name, version))

    async def delete_model(self, account: str, name: str) -> None:
        name = model_name(name)
        if not await blocking(self.store.delete_model, account, name):
            raise NotFound(f"no custom model {PREFIX}{name} in this account", code=10029)
        self._changed(account, name)
        self.loaded.drop((account, name))

    # inference

    async def _cached(self, key: tuple, read):
        """A registry row from memory (no thread hop on the hot path), else read in a thread and kept."""
        value = self.registry.peek(key)
        return value if value is not None else await blocking(self.registry.get, key, read)

    async def _predict(self, loaded, inputs: Any) -> tuple[list, list | None, bool]:
        rows, many = rows_of(inputs, loaded.signature)
        if many:
            predictions, probabilities = await blocking(loaded.predict, rows)
            return predictions, probabilities, True
        [(prediction, probability)] = await self.batcher.submit(loaded, [rows[0]])
        return [prediction], None if probability is None else [probability], False

    async def run(self, account: str, name: str, inputs: Any, caller_key: str | None = None
                  ) -> tuple[dict[str, Any], str]:
        """The answer of the served version (or, under a split, of the version the caller's key goes to), and
        that version."""
        short = model_name(name)
        model = await self._cached((account, short), lambda: self.store.model(account, short))
        if model is None:
            raise NotFound(f"no custom model {PREFIX}{short} in this account", code=10029)
        chosen = model.version_for(caller_key, random.random())
        version = await self._cached((account, short, chosen), lambda: self.store.version(account, short, chosen))
        if version is None:
            raise NotFound(f"{PREFIX}{model.name}'s version {chosen!r} is gone", code=10030)
        labels = (account, PREFIX + model.name, version.version)
        at, started = time.time(), time.perf_counter()
        caller = caller_hash(account, caller_key)
        try:
            loaded = await self._loaded(account, version)
            predictions, probabilities, many = await self._predict(loaded, inputs)
        except Exception as exc:
            refused = isinstance(exc, KumoError) and exc.status < 500
            if self.metrics:
                self.metrics.custom_calls.labels(*labels, "refused" if refused else "error").inc()
            self.calls.record(Call(account, model.name, version.version, "served", at, 0, None,
                                   "refused" if refused else "error", caller, error=_error_text(exc)))
            raise
        latency = time.perf_counter() - started
        self.calls.record(Call(account, model.name, version.version, "served", at, len(predictions),
                               latency * 1000, "ok", caller, prediction=prediction_json(predictions, many)))
        if self.metrics:
            self.metrics.custom_calls.labels(*labels, "ok").inc()
            self.metrics.custom_latency.labels(*labels).observe(latency)
            if probabilities is not None:  # classes are few; a regressor's values would be unbounded labels
                for label in set(predictions):
                    self.metrics.custom_predictions.labels(*labels, str(label)).inc(predictions.count(label))
        if many:
            answer: dict[str, Any] = {"predictions": predictions}
            if probabilities is not None:
                answer["probabilities"] = probabilities
        else:
            answer = {"prediction": predictions[0]}
            if probabilities is not None:
                answer["probability"] = probabilities[0]
        answer["model_version"] = version.version
        if model.shadow and model.shadow != version.version and len(self._shadows) < SHADOW_BACKLOG:
            task = asyncio.get_running_loop().create_task(
                self._shadow(account, model.name, model.shadow, version.version, inputs, predictions, caller))
            self._shadows.add(task)
            task.add_done_callback(self._shadows.discard)
        return answer, version.version

    async def _shadow(self, account: str, name: str, shadow: str, served: str, inputs: Any,
                      served_predictions: list, caller: str | None) -> None:
        """The shadow version answers the same call; what it says (prediction, agreement, latency, error) goes
        to the call log, never to the caller, and its failures never touch the caller."""
        at, started = time.time(), time.perf_counter()
        try:
            version = await self._cached((account, name, shadow), lambda: self.store.version(account, name, shadow))
            if version is None:
                return
            loaded = await self._loaded(account, version)
            predictions, _, many = await self._predict(loaded, inputs)
        except Exception as exc:  # noqa: BLE001 - a shadow's failure is data about it, not the caller's problem
            refused = isinstance(exc, KumoError) and exc.status < 500
            self.calls.record(Call(account, name, shadow, "shadow", at, 0, None, "refused" if refused else "error",
                                   caller, paired=served, error=_error_text(exc)))
            return
        agreed = sum(1 for a, b in zip(predictions, served_predictions) if a == b)
        self.calls.record(Call(account, name, shadow, "shadow", at, len(predictions),
                               (time.perf_counter() - started) * 1000, "ok", caller, paired=served,
                               prediction=prediction_json(predictions, many), agreed=agreed))

    # the call log

    async def _recent(self, account: str, name: str, match: dict[str, Any], offset: int, limit: int):
        model = await blocking(self._model, account, name)
        await blocking(self.calls.flush)  # what was answered before this request is in the log
        calls, total = await blocking(self.store.calls, account, model.name, match, offset, limit)
        return model, calls, total

    async def call_log(self, account: str, name: str, match: dict[str, Any], page: int, per_page: int
                       ) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """A page of the model's calls, newest first. `match`: version, role, outcome, caller_key, since, until."""
        match = {**match}
        if match.get("caller_key") is not None:
            match["caller"] = caller_hash(account, match["caller_key"])
        match.pop("caller_key", None)
        _, calls, total = await self._recent(account, name, match, (page - 1) * per_page, per_page)
        return calls, {"page": page, "per_page": per_page, "count": len(calls), "total_count": total}

    async def compare(self, account: str, name: str, a: str, b: str, since: float | None) -> dict[str, Any]:
        """Versions a and b over the model's recent calls (since `since`, at most COMPARE_CALLS of them)."""
        for version in (a, b):
            await self.version(account, name, version)  # 404 names what is missing
        model, calls, _ = await self._recent(account, name, {"version": [a, b], "since": since}, 0, COMPARE_CALLS)
        return {"model": PREFIX + model.name, "since": since, **compare(calls, a, b)}

    async def shadow_report(self, account: str, name: str, limit: int = 100) -> dict[str, Any]:
        """The shadow version's recent calls and a summary of them: agreement with the served answers,
        errors, latency."""
        model, recent, _ = await self._recent(account, name, {"role": "shadow"}, 0, limit)
        stats = version_stats(recent)
        rows = sum(c["rows"] for c in recent if c["outcome"] == "ok")
        return {"model": PREFIX + model.name, "served_version": model.served, "shadow_version": model.shadow,
                "summary": {"calls": stats["calls"], "rows": rows, "errors": stats["errors"] + stats["refused"],
                            "agreement": sum(c["agreed"] or 0 for c in recent) / rows if rows else None,
                            "p50_latency_ms": stats["p50_latency_ms"]},
                "recent": [{"shadow_version": c["version"], "served_version": c["served_version"], "at": c["at"],
                            "rows": c["rows"], "agreed": c["agreed"] or 0, "latency_ms": c["latency_ms"],
                            "error": c["error"]} for c in recent]}

    async def set_shadow(self, account: str, name: str, version: str | None) -> dict[str, Any]:
        await blocking(self._model, account, name)
        model = await blocking(self.store.set_shadow, account, model_name(name), version)
        self._changed(account, model_name(name))
        if model is None:
            raise NotFound(f"no custom model {PREFIX}{model_name(name)} in this account", code=10029)
        return {"model": PREFIX + model.name, "served_version": model.served, "shadow_version": model.shadow}

    async def _fetch(self, account: str, v: ModelVersion, path: Path) -> None:
        """The version's file from R2 to `path`, by way of a staging file: a file at `path` is always whole."""
        staging = self.files.staging()
        try:
            part = staging / path.name
            info = await self._download(account, v.bucket, v.key, part)
            if info.etag != v.etag:  # versions are immutable: never serve other bytes under one
                raise ObjectChanged(f"r2://{v.bucket}/{v.key} changed since version {v.version!r} was "
                                    f"registered (ETag {v.etag}, now {info.etag}); register it as a new "
                                    "version", code=10027)
            path.parent.mkdir(parents=True, exist_ok=True)
            part.replace(path)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        await blocking(self.files.added, path)

    async def _loaded(self, account: str, v: ModelVersion):
        """A version's model: from memory, else its file on disk, else fetched from R2 (once, however many
        requests ask at the same time)."""
        key = (account, v.name, v.version, v.etag)
        model = self.loaded.get(key)
        if model is not None:
            return model
        lock = self._loading.setdefault(key, asyncio.Lock())
        async with lock:
            model = self.loaded.get(key)
            if model is None:
                with self.files.using(self._file(account, v)) as path:
                    if not path.exists():
                        await self._fetch(account, v, path)
                    model = await blocking(formats.load, v.format, path, v.trusted)
                self.loaded.put(key, model, v.size)
        self._loading.pop(key, None)
        return model

    async def loaded_version(self, account: str, name: str, version: str | None = None):
        """(the version, its loaded model): `version`, else the one served now. Batch scoring pins one."""
        model = await blocking(self._model, account, name)
        found = await blocking(self.store.version, account, model.name, version or model.served)
        if found is None:
            raise NotFound(f"{PREFIX}{model.name} has no version {version!r}", code=10030)
        return found, await self._loaded(account, found)
