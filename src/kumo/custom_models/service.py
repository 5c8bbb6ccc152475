"""Custom models' service: registering versions of a team's own models (their files in R2), choosing the
served one, and predicting with it. Knows nothing of HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
import uuid
import shutil
from pathlib import Path
from typing import Any

from kumo.custom_models import PREFIX, formats
from kumo.custom_models.cache import LoadedModels
from kumo.custom_models.features import rows_of
from kumo.custom_models.registry import Conflict, ModelVersion, model_name, version_name
from kumo.errors import InvalidRequest, KumoError, NotFound
from kumo.r2.errors import R2Error


log = logging.getLogger("kumo.custom_models")
SHADOW_BACKLOG = 64  # shadow calls in flight at most: beyond it copies are dropped rather than slow the node


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


def _dir_name(*parts: str) -> str:
    """A file-system-safe, collision-free directory name for (account, model, version)."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


class CustomModelService:
    def __init__(self, store, r2, files_dir: Path, max_bytes: int = 1 << 30):
        self.store = store
        self.r2 = r2
        self.files_dir = files_dir
        self.loaded = LoadedModels(max_bytes)
        self._loading: dict[tuple, asyncio.Lock] = {}
        self._shadows: set[asyncio.Task] = set()  # held so they are not collected mid-flight
        self.metrics = None  # kumo.metrics.Metrics, set by the platform

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
        if await asyncio.to_thread(self.store.version, account, name, version):
            raise Conflict(f"version {version!r} of {PREFIX}{name} already exists; versions are immutable")
        staging = self.files_dir / ".staging" / uuid.uuid4().hex  # one per attempt: concurrent ones never meet
        staging.mkdir(parents=True, exist_ok=True)
        try:
            path = staging / ("model" + Path(key).suffix.lower())
            info = await self._download(account, bucket, key, path)
            model = await asyncio.to_thread(formats.load, fmt, path, trusted)
            registered = ModelVersion(name, version, fmt, bucket, key, info.etag, info.size, trusted,
                                      model.signature)
            registered = await asyncio.to_thread(self.store.add_version, account, registered)
            final = self._file(account, registered)
            final.parent.mkdir(parents=True, exist_ok=True)
            path.replace(final)
            self.loaded.put((account, name, version, info.etag), model, info.size)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        model_row = await asyncio.to_thread(self.store.model, account, name)
        return registered.describe(model_row.served if model_row else None)

    async def _download(self, account: str, bucket: str, key: str, path: Path):
        try:
            return await self.r2.download_to(account, bucket, key, path)
        except R2Error as exc:
            if exc.status == 404:
                raise NotFound(f"r2://{bucket}/{key} does not exist: {exc.message}", code=10028) from None
            raise

    def _file(self, account: str, v: ModelVersion) -> Path:
        return self.files_dir / _dir_name(account, v.name, v.version) / f"{v.etag}{Path(v.key).suffix.lower()}"

    def _model(self, account: str, name: str):
        model = self.store.model(account, model_name(name))
        if model is None:
            raise NotFound(f"no custom model {PREFIX}{model_name(name)} in this account", code=10029)
        return model

    async def describe(self, account: str, name: str) -> dict[str, Any]:
        model = await asyncio.to_thread(self._model, account, name)
        versions = await asyncio.to_thread(self.store.versions, account, model.name)
        return {"model": PREFIX + model.name, "served_version": model.served, "created_on": model.created,
                "previously_served": model.history, "split": model.split, "shadow_version": model.shadow,
                "versions": [v.describe(model.served) for v in versions]}

    async def list_models(self, account: str) -> list[dict[str, Any]]:
        models = await asyncio.to_thread(self.store.models, account)
        return [{"model": PREFIX + m.name, "served_version": m.served, "split": m.split, "created_on": m.created}
                for m in models]

    async def versions(self, account: str, name: str) -> list[dict[str, Any]]:
        return (await self.describe(account, name))["versions"]

    async def version(self, account: str, name: str, version: str) -> dict[str, Any]:
        model = await asyncio.to_thread(self._model, account, name)
        found = await asyncio.to_thread(self.store.version, account, model.name, version)
        if found is None:
            raise NotFound(f"{PREFIX}{model.name} has no version {version!r}", code=10030)
        return found.describe(model.served)

    async def promote(self, account: str, name: str, version: str) -> dict[str, Any]:
        await self.version(account, name, version)  # 404 names what is missing
        model = await asyncio.to_thread(self.store.set_served, account, model_name(name), version)
        if model is None:
            raise NotFound(f"no custom model {PREFIX}{model_name(name)} in this account", code=10029)
        return {"model": PREFIX + model.name, "served_version": model.served, "previously_served": model.history}

    async def rollback(self, account: str, name: str) -> dict[str, Any]:
        await asyncio.to_thread(self._model, account, name)
        model = await asyncio.to_thread(self.store.set_served, account, model_name(name), None)
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
        await asyncio.to_thread(self._model, account, name)
        model = await asyncio.to_thread(self.store.set_split, account, model_name(name), weights)
        if model is None:
            raise NotFound(f"no custom model {PREFIX}{model_name(name)} in this account", code=10029)
        return {"model": PREFIX + model.name, "served_version": model.served, "split": model.split}

    async def delete_version(self, account: str, name: str, version: str) -> None:
        name = model_name(name)
        if not await asyncio.to_thread(self.store.delete_version, account, name, version):
            raise NotFound(f"{PREFIX}{name} has no version {version!r}", code=10030)
        self.loaded.drop((account, name, version))

    async def delete_model(self, account: str, name: str) -> None:
        name = model_name(name)
        if not await asyncio.to_thread(self.store.delete_model, account, name):
            raise NotFound(f"no custom model {PREFIX}{name} in this account", code=10029)
        self.loaded.drop((account, name))

    # inference

    async def run(self, account: str, name: str, inputs: Any, caller_key: str | None = None
                  ) -> tuple[dict[str, Any], str]:
        """The answer of the served version (or, under a split, of the version the caller's key goes to), and
        that version."""
        model = await asyncio.to_thread(self._model, account, name)
        chosen = model.version_for(caller_key, random.random())
        version = await asyncio.to_thread(self.store.version, account, model.name, chosen)
        if version is None:
            raise NotFound(f"{PREFIX}{model.name}'s version {chosen!r} is gone", code=10030)
        labels = (account, PREFIX + model.name, version.version)
        started = time.perf_counter()
        try:
            loaded = await self._loaded(account, version)
            rows, many = rows_of(inputs, loaded.signature)
            predictions, probabilities = await asyncio.to_thread(loaded.predict, rows)
        except Exception as exc:
            if self.metrics:
                refused = isinstance(exc, KumoError) and exc.status < 500
                self.metrics.custom_calls.labels(*labels, "refused" if refused else "error").inc()
            raise
        if self.metrics:
            self.metrics.custom_calls.labels(*labels, "ok").inc()
            self.metrics.custom_latency.labels(*labels).observe(time.perf_counter() - started)
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
                self._shadow(account, model.name, model.shadow, version.version, inputs, predictions))
            self._shadows.add(task)
            task.add_done_callback(self._shadows.discard)
        return answer, version.version

    async def _shadow(self, account: str, name: str, shadow: str, served: str, inputs: Any,
                      served_predictions: list) -> None:
        """The shadow version answers the same call; what it says (agreement, latency, error) is recorded,
        never returned, and its failures never touch the caller."""
        started = time.perf_counter()
        agreed, rows, error, latency = 0, 0, None, None
        try:
            version = await asyncio.to_thread(self.store.version, account, name, shadow)
            if version is None:
                return
            loaded = await self._loaded(account, version)
            shadow_rows, _ = rows_of(inputs, loaded.signature)
            predictions, _ = await asyncio.to_thread(loaded.predict, shadow_rows)
            latency = (time.perf_counter() - started) * 1000
            rows = len(predictions)
            agreed = sum(1 for a, b in zip(predictions, served_predictions) if a == b)
        except KumoError as exc:
            error = exc.message
        except Exception as exc:  # noqa: BLE001 - a shadow's failure is data about it, not the caller's problem
            error = f"{type(exc).__name__}: {exc}"
        try:
            await asyncio.to_thread(self.store.record_shadow, account, name, shadow, served, time.time(), rows,
                                    agreed, latency, error)
        except Exception:  # noqa: BLE001
            log.exception("could not record a shadow answer of @custom/%s %s", name, shadow)

    async def set_shadow(self, account: str, name: str, version: str | None) -> dict[str, Any]:
        await asyncio.to_thread(self._model, account, name)
        model = await asyncio.to_thread(self.store.set_shadow, account, model_name(name), version)
        if model is None:
            raise NotFound(f"no custom model {PREFIX}{model_name(name)} in this account", code=10029)
        return {"model": PREFIX + model.name, "served_version": model.served, "shadow_version": model.shadow}

    async def shadow_report(self, account: str, name: str, limit: int = 100) -> dict[str, Any]:
        """The shadow version's recent calls and a summary of them: agreement with the served answers,
        errors, latency."""
        model = await asyncio.to_thread(self._model, account, name)
        recent = await asyncio.to_thread(self.store.shadow_log, account, model.name, limit)
        rows = sum(r["rows"] for r in recent)
        latencies = sorted(r["latency_ms"] for r in recent if r["latency_ms"] is not None)
        return {"model": PREFIX + model.name, "served_version": model.served, "shadow_version": model.shadow,
                "summary": {"calls": len(recent), "rows": rows, "errors": sum(1 for r in recent if r["error"]),
                            "agreement": sum(r["agreed"] for r in recent) / rows if rows else None,
                            "p50_latency_ms": latencies[len(latencies) // 2] if latencies else None},
                "recent": recent}

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
                path = self._file(account, v)
                if not path.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    info = await self._download(account, v.bucket, v.key, path)
                    if info.etag != v.etag:  # versions are immutable: never serve other bytes under one
                        path.unlink(missing_ok=True)
                        raise ObjectChanged(f"r2://{v.bucket}/{v.key} changed since version {v.version!r} was "
                                            f"registered (ETag {v.etag}, now {info.etag}); register it as a new "
                                            "version", code=10027)
                model = await asyncio.to_thread(formats.load, v.format, path, v.trusted)
                self.loaded.put(key, model, v.size)
        self._loading.pop(key, None)
        return model

    async def loaded_version(self, account: str, name: str, version: str | None = None):
        """(the version, its loaded model): `version`, else the one served now. Batch scoring pins one."""
        model = await asyncio.to_thread(self._model, account, name)
        found = await asyncio.to_thread(self.store.version, account, model.name, version or model.served)
        if found is None:
            raise NotFound(f"{PREFIX}{model.name} has no version {version!r}", code=10030)
        return found, await self._loaded(account, found)
