"""Submitting, reporting and cancelling scoring jobs, and what workers need to score a job's rows: its input
table and its scorer, both checked when the job is submitted so a job never fails on them half way.
Knows nothing of HTTP."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections import OrderedDict
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa

from kumo.custom_models import PREFIX
from kumo.custom_models.registry import model_name
from kumo.custom_models.scoring import tables
from kumo.custom_models.scoring.jobs import ScoringJob
from kumo.custom_models.scoring.keys import new_job_id, parts_prefix, r2_location
from kumo.custom_models.scoring.scorers import CATALOG_SCORERS, CustomScorer
from kumo.errors import InvalidRequest, KumoError, NotFound
from kumo.r2.errors import R2Error
from kumo.api.threads import blocking
from kumo.timestamps import iso_now

log = logging.getLogger("kumo.custom_models.scoring")
DEFAULT_CHUNK_ROWS = 50_000
CHUNK_ROWS = (100, 1_000_000)  # fewer rows per part is all overhead; more is more work lost to a crash
MAX_CHUNKS = 100_000  # below 10 ** keys.PART_INDEX_DIGITS: a chunk's index fits its part key
FIELDS = {"model", "version", "input", "output", "columns", "parameters", "input_format", "output_format",
          "chunk_rows"}


class InputChanged(KumoError):
    status = 409
    code = 10043


MAX_INPUT_BYTES = 2 << 30  # inputs are read whole: bounded so one job cannot take the memory


class ScoringService:
    def __init__(self, store, r2, custom_models, ai, work_dir: Path):
        self.store = store
        self.r2 = r2
        self.custom_models = custom_models
        self.ai = ai
        self.work_dir = work_dir  # inputs are downloaded here, read, and deleted
        self._tables: OrderedDict[tuple, pa.Table] = OrderedDict()  # the last inputs read, for the next chunks
        self._reading: dict[tuple, asyncio.Lock] = {}
        self.submitted: asyncio.Event | None = None  # set on each submission: this process's workers wake

    # ---- jobs ---------------------------------------------------------------------------------------------------

    async def submit(self, account: str, body: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(body) - FIELDS)
        if unknown:
            raise InvalidRequest(f"unknown field {unknown[0]!r}; a scoring job takes {', '.join(sorted(FIELDS))}",
                                 code=10040)
        for required in ("model", "input", "output"):
            if required not in body:
                raise InvalidRequest('send {"model": "@custom/NAME", "input": "r2://BUCKET/KEY", "output": '
                                     f'"r2://BUCKET/KEY"}}: {required!r} is missing', code=10040)
        model = body["model"]
        if not isinstance(model, str):
            raise InvalidRequest("model must be a custom model (@custom/NAME) or a catalog model's name", code=10040)
        in_bucket, in_key = r2_location(body["input"], "input")
        out_bucket, out_key = r2_location(body["output"], "output")
        if (in_bucket, in_key) == (out_bucket, out_key):
            raise InvalidRequest("the output must not overwrite the input: give another key", code=10040)
        in_fmt = tables.format_of(in_key, body.get("input_format"), "input")
        out_fmt = body.get("output_format")
        if out_fmt is None and PurePosixPath(out_key).suffix.lower() in tables.EXTENSIONS:
            out_fmt = tables.EXTENSIONS[PurePosixPath(out_key).suffix.lower()]
        out_fmt = tables.format_of(out_key, out_fmt or in_fmt, "output")
        chunk_rows = body.get("chunk_rows", DEFAULT_CHUNK_ROWS)
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or \
                not CHUNK_ROWS[0] <= chunk_rows <= CHUNK_ROWS[1]:
            raise InvalidRequest(f"chunk_rows {chunk_rows!r}: a whole number from {CHUNK_ROWS[0]} to "
                                 f"{CHUNK_ROWS[1]}", code=10040)
        columns = body.get("columns")
        if columns is not None and (not isinstance(columns, list) or not columns or
                                    not all(isinstance(c, str) for c in columns)):
            raise InvalidRequest("columns must be a non-empty list of column names", code=10040)
        spec: dict[str, Any] = {"model": model, "version": None, "columns": columns,
                                "parameters": body.get("parameters"), "chunk_rows": chunk_rows,
                                "input": {"bucket": in_bucket, "key": in_key, "format": in_fmt},
                                "output": {"bucket": out_bucket, "key": out_key, "format": out_fmt}}
        scorer = await self._new_scorer(account, spec, body.get("version"))
        await self.r2.bucket(account, out_bucket)  # the output's bucket must exist: NoSuchBucket now, not later
        table, etag = await self._download(account, spec)
        spec["input"]["etag"] = etag
        scorer.check(table)
        clash = [c for c in scorer.prediction_columns if c in table.column_names]
        if clash:
            raise InvalidRequest(f"the input already has a column {clash[0]!r}, which the output adds; rename it",
                                 code=10042)
        spec["columns"], spec["prediction_columns"] = scorer.columns, scorer.prediction_columns
        spec["input_columns"] = table.column_names
        if self.submitted is not None:  # this process scores too: its workers need not read the input again
            self._remember((account, in_bucket, in_key, etag), table)
        tables.check_writable(table.schema, out_fmt)
        rows = table.num_rows
        if rows == 0:
            raise InvalidRequest("the input has no rows to score", code=10042)
        if -(-rows // chunk_rows) > MAX_CHUNKS:
            raise InvalidRequest(f"{rows} rows in chunks of {chunk_rows} make more than {MAX_CHUNKS} chunks; "
                                 "give a larger chunk_rows", code=10040)
        job = ScoringJob(new_job_id(), account, spec, "running", rows, -(-rows // chunk_rows), iso_now())
        await blocking(self.store.add, job)
        if self.submitted is not None:
            self.submitted.set()
        return job.describe()

    async def status(self, account: str, job_id: str) -> dict[str, Any]:
        job = await blocking(self.store.get, account, job_id)
        if job is None:
            raise NotFound(f"no scoring job {job_id!r} in this account", code=10044)
        return job.describe()

    async def list(self, account: str, limit: int) -> list[dict[str, Any]]:
        return [j.describe() for j in await blocking(self.store.list, account, limit)]

    async def cancel(self, account: str, job_id: str) -> dict[str, Any]:
        job = await blocking(self.store.cancel, account, job_id)
        if job is None:
            raise NotFound(f"no scoring job {job_id!r} in this account", code=10044)
        if job.status == "cancelled":
            await self.drop_parts(job)  # a part a worker is writing now is dropped by that worker
        return job.describe()

    async def drop_parts(self, job: ScoringJob) -> None:
        """Every object under the job's parts prefix, recorded or not (a lost attempt's part too)."""
        bucket, prefix = job.spec["output"]["bucket"], parts_prefix(job.spec["output"]["key"], job.id)
        try:
            while True:
                listing = await self.r2.list_objects(job.account, bucket, prefix=prefix, max_keys=1000)
                keys = [o.key for o in listing.objects]
                if not keys:
                    return
                await self.r2.delete_objects(job.account, bucket, keys)
        except KumoError as exc:
            log.warning("scoring job %s: parts under %s not deleted: %s", job.id, prefix, exc.message)

    # ---- what workers score with --------------------------------------------------------------------------------

    async def _new_scorer(self, account: str, spec: dict[str, Any], version: Any = None):
        """The scorer of a job being submitted: the custom model's version is pinned (the one served now unless
        one is named), a catalog model's parameters are checked against its task's schema."""
        model = spec["model"]
        if model.startswith(PREFIX):
            if spec["parameters"] is not None:
                raise InvalidRequest("parameters are for catalog models; a custom model takes only its features",
                                     code=10040)
            if version is not None and not isinstance(version, str):
                raise InvalidRequest(f"version {version!r}: a version name, e.g. \"v2\"", code=10040)
            spec["model"] = PREFIX + model_name(model)
            found, loaded = await self.custom_models.loaded_version(account, model, version)
            spec["version"] = found.version
            return CustomScorer(loaded, CustomScorer.choose_columns(loaded, spec["columns"]))
        if version is not None:
            raise InvalidRequest("version is for custom models (@custom/NAME); a catalog model has one", code=10040)
        entry = self.ai.entry(model)
        kind = CATALOG_SCORERS.get(entry.task.slug)
        if kind is None:
            raise InvalidRequest(f"{model} is a {entry.task.name} model; batch scoring runs custom models and "
                                 f"catalog {', '.join(CATALOG_SCORERS)} models", code=10040)
        columns = spec["columns"] or [kind.field]
        if len(columns) != 1:
            raise InvalidRequest(f"{model} scores one text column: send \"columns\": [NAME]", code=10040)
        parameters = spec["parameters"] or {}
        if not isinstance(parameters, dict) or kind.field in parameters or "stream" in parameters:
            raise InvalidRequest(f"parameters must be an object of {model}'s settings other than "
                                 f"{kind.field!r} (each row's) and 'stream'", code=10040)
        self.ai.validate(entry, {kind.field: ["x"] if kind.field == "text" else "x", **parameters})
        spec["parameters"] = parameters
        return kind(self.ai, model, columns[0], parameters)

    async def scorer(self, job: ScoringJob):
        spec = job.spec
        if spec["version"] is not None:
            _, loaded = await self.custom_models.loaded_version(job.account, spec["model"], spec["version"])
            return CustomScorer(loaded, spec["columns"])
        return CATALOG_SCORERS[self.ai.entry(spec["model"]).task.slug](self.ai, spec["model"], spec["columns"][0],
                                                                        spec["parameters"])

    async def table(self, job: ScoringJob) -> pa.Table:
        """The job's input: the same bytes it was submitted with (by ETag), read once per process."""
        source = job.spec["input"]
        key = (job.account, source["bucket"], source["key"], source["etag"])
        if key in self._tables:
            self._tables.move_to_end(key)
            return self._tables[key]
        async with self._reading.setdefault(key, asyncio.Lock()):
            if key not in self._tables:
                table, etag = await self._download(job.account, job.spec)
                if etag != source["etag"]:
                    raise InputChanged(f"r2://{source['bucket']}/{source['key']} changed since the job was submitted"
                                       f" (ETag {source['etag']}, now {etag}); submit a new job")
                self._remember(key, table)
        self._reading.pop(key, None)
        return self._tables[key]

    def _remember(self, key: tuple, table: pa.Table) -> None:
        self._tables[key] = table
        while len(self._tables) > 2:  # inputs can be large: the current job's, and one more
            self._tables.popitem(last=False)

    async def _download(self, account: str, spec: dict[str, Any]) -> tuple[pa.Table, str]:
        source = spec["input"]
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.work_dir) as tmp:
            path = Path(tmp) / "input"
            try:
                info = await self.r2.download_to(account, source["bucket"], source["key"], path)
            except R2Error as exc:
                if exc.status == 404:
                    raise NotFound(f"r2://{source['bucket']}/{source['key']} does not exist: {exc.message}",
                                   code=10028) from None
                raise
            if path.stat().st_size > MAX_INPUT_BYTES:  # the table is read whole into memory
                raise InvalidRequest(f"r2://{source['bucket']}/{source['key']} is {path.stat().st_size} bytes; a "
                                     f"scoring job reads at most {MAX_INPUT_BYTES} bytes (split the dataset)",
                                     code=10042)
            table = await blocking(tables.read, path, source["format"])
        return table, info.etag
