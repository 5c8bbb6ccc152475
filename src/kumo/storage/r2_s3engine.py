"""R2's scaled-out backend: object bytes in an S3-compatible engine (SeaweedFS, MinIO, AWS S3), rows in SQL
(PostgreSQL when several nodes share them; SQLite works too).

kumo talks to the engine with its own credentials, in one engine bucket, and names every engine object by a
random id (`blobs/<id>`), never by the user's key: no key can reach the engine's namespace. The rows, the
listing and the multipart state are the embedded backend's (the same tables and SQL, written once for SQLite
and PostgreSQL); only where bytes live differs, so this class keeps `EmbeddedObjectStore`'s row logic and
replaces its file operations. A write is durable when it returns: the engine acknowledges the bytes before
the row is committed; a crash in between leaves an engine object no row names, which `start()` removes.
A replaced or deleted blob is deleted from the engine only after its row is gone.

boto3 is blocking: every engine call runs in a worker thread. Bodies stream in parts of about PART_SIZE bytes
(an engine multipart upload), so at most two parts per request are held in memory: one on its way to the
engine, the next being received.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from kumo.api.threads import blocking
from kumo.r2.errors import StorageUnavailable
from kumo.r2.store import BucketInfo, ObjectInfo, ObjectMeta, PartInfo, StagedBlob, UploadInfo
from kumo.storage.group_commit import committer
from kumo.storage.overlap import overlapped
from kumo.storage.r2_embedded import (
    _OBJECT_COLUMNS,
    EmbeddedObjectStore,
    _meta_values,
    _object,
)
from kumo.storage.r2_files import BLOCK
from kumo.timestamps import iso_now

PART_SIZE = 8 * 1024 * 1024  # engine multipart part (S3's minimum is 5 MiB, except the last)
COPY_PART_SIZE = 1024 * 1024 * 1024  # a server-side copy part (S3's maximum is 5 GiB)
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class EngineSettingsError(ValueError):
    """The engine settings are unusable: kumo refuses to start rather than fail on the first request."""


@dataclass(frozen=True)
class EngineConfig:
    url: str
    access_key: str
    secret_key: str
    bucket: str
    region: str = "us-east-1"

    def __post_init__(self):
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
                or parts.query or parts.fragment:
            raise EngineSettingsError(f"r2_engine_url must be http(s)://host[:port], not {self.url!r}")
        if not self.access_key or not self.secret_key:
            raise EngineSettingsError("r2_engine_url needs r2_engine_access_key and r2_engine_secret_key")
        if not _BUCKET_NAME.match(self.bucket):
            raise EngineSettingsError(f"r2_engine_bucket {self.bucket!r} is not an S3 bucket name "
                                      "(3-63 characters: a-z, 0-9, '.', '-')")

    def __repr__(self) -> str:  # never print the secret
        return f"EngineConfig(url={self.url!r}, access_key={self.access_key!r}, bucket={self.bucket!r})"


def engine_client(config: EngineConfig):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=config.url, aws_access_key_id=config.access_key,
                        aws_secret_access_key=config.secret_key, region_name=config.region,
                        # the body's SHA-256 is left out of the signature (boto3's default over TLS): it cost a third
                        # of kumo's CPU on a large PUT; botocore still sends a CRC32 of it, in a signed header
                        config=Config(s3={"addressing_style": "path", "payload_signing_enabled": False},
                                      retries={"max_attempts": 3, "mode": "standard"},
                                      max_pool_connections=32, connect_timeout=5, read_timeout=60))


def ensure_bucket(client, config: EngineConfig) -> None:
    """Check the engine answers with these credentials, creating kumo's bucket if missing."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        try:
            client.head_bucket(Bucket=config.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                raise
            client.create_bucket(Bucket=config.bucket)
    except (BotoCoreError, ClientError) as exc:
        raise EngineSettingsError(f"the R2 engine at {config.url} refused kumo (bucket {config.bucket!r}): "
                                  f"{exc}") from None


_GONE = ("NoSuchKey", "404")


class _Engine:
    """The boto3 client, with the engine's failures as a 503 the client may retry (S3's ServiceUnavailable)
    instead of a 500; "no such key" stays a ClientError for the callers that expect it."""

    def __init__(self, client):
        self.client = client

    def __getattr__(self, name: str):
        method = getattr(self.client, name)
        if not callable(method) or name in ("get_paginator", "close"):
            return method

        def call(*args, **kwargs):
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                return method(*args, **kwargs)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in _GONE:
                    raise
                raise StorageUnavailable(f"the object store engine failed: {_code(exc)}; retry shortly") from exc
            except BotoCoreError as exc:
                raise StorageUnavailable("the object store engine is unreachable; retry shortly") from exc

        return call


def _code(exc) -> str:
    return str(exc.response.get("Error", {}).get("Code") or "error")


def engine_name(ref: str) -> str:
    """The engine object that holds blob `ref`."""
    return f"blobs/{ref}"


def _ref(name: str) -> str:
    return name.removeprefix("blobs/")


async def _parts(body: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """The body in parts of PART_SIZE bytes or a little more (the last may be shorter): the chunks as they
    came, joined once. S3 engines take parts of any size from 5 MiB up."""
    pending: list[bytes] = []
    held = 0
    async for chunk in body:
        pending.append(chunk)
        held += len(chunk)
        if held >= PART_SIZE:
            yield b"".join(pending)
            pending, held = [], 0
    if held:
        yield b"".join(pending)


class _EngineUpload:
    """One body on its way to the engine, a part at a time (`send` runs in a worker thread, parts in order).
    The first part is held back: a body of one part is one PUT."""

    def __init__(self, store: EngineObjectStore, name: str):
        self.s3, self.bucket, self.name = store.s3, store.bucket, name
        self.upload_id: str | None = None
        self.etags: list[dict] = []
        self.size = 0
        self._first: bytes | None = None

    def send(self, part: bytes) -> None:
        self.size += len(part)
        if self._first is None:
            self._first = part
            return
        if self.upload_id is None:
            self.upload_id = self.s3.create_multipart_upload(Bucket=self.bucket, Key=self.name)["UploadId"]
            self._upload_part(self._first)
            self._first = b""
        self._upload_part(part)

    def _upload_part(self, data: bytes) -> None:
        number = len(self.etags) + 1
        answer = self.s3.upload_part(Bucket=self.bucket, Key=self.name, UploadId=self.upload_id, PartNumber=number,
                                     Body=data)
        self.etags.append({"PartNumber": number, "ETag": answer["ETag"]})

    def finish(self) -> None:
        if self.upload_id is None:
            self.s3.put_object(Bucket=self.bucket, Key=self.name, Body=self._first or b"")
        else:
            self.s3.complete_multipart_upload(Bucket=self.bucket, Key=self.name, UploadId=self.upload_id,
                                              MultipartUpload={"Parts": self.etags})


async def _body_chunks(body: Any) -> AsyncGenerator[bytes, None]:
    """An engine GET's body (botocore's StreamingBody) in blocks, closed when done or left."""
    try:
        while True:
            data = await blocking(body.read, BLOCK)
            if not data:
                break
            yield data
    finally:
        await blocking(body.close)


class EngineReader:
    """An object read from the engine: `chunks()` yields its body and closes it when done or left."""

    def __init__(self, info: ObjectInfo, body: Any):
        self.info = info
        self._body = body

    def chunks(self) -> AsyncGenerator[bytes, None]:
        return _body_chunks(self._body)

    async def aclose(self) -> None:
        await blocking(self._body.close)


class EngineObjectStore(EmbeddedObjectStore):
    def __init__(self, config: EngineConfig, database, *, owns_database: bool = True):
        self.config = config
        self._owns_database = owns_database  # False: the platform's shared PostgreSQL pool, closed by it
        self.bucket = config.bucket
        self.s3 = _Engine(engine_client(config))
        self.db = database
        self.writes = committer(database)

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Check the engine answers with these credentials (creating kumo's bucket if missing), then remove
        engine objects no row names and older than this start (a crash between an upload and its row)."""
        ensure_bucket(self.s3.client, self.config)
        self._sweep(time.time() - 60)

    def _sweep(self, before: float) -> None:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix="blobs/")
        for page in pages:
            entries = [e for e in page.get("Contents", []) if e["LastModified"].timestamp() < before]
            if not entries:
                continue
            refs = [_ref(e["Key"]) for e in entries]
            marks = ", ".join("?" * len(refs))
            with self.db.reading() as conn:
                known = {r[0] for r in conn.execute(
                    f"SELECT blob FROM r2_objects WHERE blob IN ({marks}) "
                    f"UNION ALL SELECT blob FROM r2_parts WHERE blob IN ({marks})", (*refs, *refs))}
            self._unlink([ref for ref in refs if ref not in known])
        self._abort_stale_uploads(before)

    def _abort_stale_uploads(self, before: float) -> None:
        """Engine multipart uploads a crash left open hold storage: abort those older than `before`."""
        for page in self.s3.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix="blobs/"):
            for upload in page.get("Uploads", []):
                if upload["Initiated"].timestamp() < before:
                    self.s3.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])

    def close(self) -> None:
        if self._owns_database:
            self.db.close()
        self.s3.close()

    # -- blobs ----------------------------------------------------------------------------------------------------

    def _unlink(self, refs) -> None:
        names = [{"Key": engine_name(ref)} for ref in refs if ref]
        for start in range(0, len(names), 1000):  # DeleteObjects takes at most 1000 keys
            self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": names[start:start + 1000], "Quiet": True})

    async def stage(self, body: AsyncIterable[bytes], observe: Callable[[bytes], None] | None = None) -> StagedBlob:
        upload = _EngineUpload(self, engine_name(uuid.uuid4().hex))
        works = (upload.send,) if observe is None else (upload.send, observe)
        try:
            # a part goes to the engine, and is hashed beside it, while the next one arrives
            await overlapped(_parts(body), *works)
            await blocking(upload.finish)
        except BaseException:
            if upload.upload_id is not None:
                await asyncio.shield(blocking(self._abort_quietly, upload.name, upload.upload_id))
            raise
        return StagedBlob(ref=_ref(upload.name), size=upload.size, md5="")

    def _abort_quietly(self, name: str, upload_id: str) -> None:
        try:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
        except Exception:  # noqa: BLE001 - start() sweeps what is left
            pass

    def _copy_blob(self, sources: list[tuple[str, int]]) -> str:
        """A new engine object joining `sources` (ref, size), copied inside the engine; its ref."""
        ref = uuid.uuid4().hex
        name = engine_name(ref)
        total = sum(size for _, size in sources)
        if len(sources) == 1 and total <= COPY_PART_SIZE:
            self.s3.copy_object(Bucket=self.bucket, Key=name, CopySource={"Bucket": self.bucket,
                                                                          "Key": engine_name(sources[0][0])})
            return ref
        upload_id = self.s3.create_multipart_upload(Bucket=self.bucket, Key=name)["UploadId"]
        try:
            parts: list[dict[str, Any]] = []
            for source, size in sources:
                for offset in range(0, max(size, 1), COPY_PART_SIZE):
                    last = min(offset + COPY_PART_SIZE, size) - 1
                    extra = {"CopySourceRange": f"bytes={offset}-{last}"} if size else {}
                    answer = self.s3.upload_part_copy(Bucket=self.bucket, Key=name, UploadId=upload_id,
                                                      PartNumber=len(parts) + 1,
                                                      CopySource={"Bucket": self.bucket, "Key": engine_name(source)},
                                                      **extra)
                    parts.append({"PartNumber": len(parts) + 1, "ETag": answer["CopyPartResult"]["ETag"]})
            self.s3.complete_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id,
                                              MultipartUpload={"Parts": parts})
        except BaseException:
            self._abort_quietly(name, upload_id)
            raise
        return ref

    # -- objects --------------------------------------------------------------------------------------------------

    async def open_object(self, bucket: BucketInfo, key: str, start: int = 0,
                          end: int | None = None) -> EngineReader | None:
        def open_() -> EngineReader | None:
            from botocore.exceptions import ClientError

            for _ in range(5):  # the row's blob was replaced between lookup and GET: look again
                with self.db.reading() as conn:
                    row = self._lookup(conn, bucket, key)
                if row is None:
                    return None
                info = _object(bucket.name, row)
                stop = info.size if end is None else min(end, info.size)
                if stop <= start:
                    return EngineReader(info, _Empty())
                try:
                    answer = self.s3.get_object(Bucket=self.bucket, Key=engine_name(row[1]),
                                                Range=f"bytes={start}-{stop - 1}")
                except ClientError as exc:
                    if _code(exc) in _GONE:
                        continue
                    raise
                return EngineReader(info, answer["Body"])
            return None

        return await blocking(open_)

    async def copy_object(self, source: ObjectInfo, source_bucket: BucketInfo, bucket: BucketInfo, key: str,
                          meta: ObjectMeta) -> ObjectInfo | None:
        def copy() -> ObjectInfo | None:
            from botocore.exceptions import ClientError

            with self.db.reading() as conn:
                row = self._lookup(conn, source_bucket, source.key)
            if row is None:
                return None
            current = _object(source_bucket.name, row)
            try:
                ref = self._copy_blob([(row[1], current.size)])
            except ClientError as exc:
                if _code(exc) in _GONE:
                    return None  # replaced or deleted meanwhile
                raise
            return self._replace_object(bucket, key, ref, current, meta)

        return await blocking(copy)

    # -- multipart uploads ----------------------------------------------------------------------------------------

    async def complete_upload(self, bucket: BucketInfo, upload: UploadInfo, parts: list[PartInfo],
                              etag: str) -> ObjectInfo | None:
        # the parts joined inside the engine when S3 allows it (every part but the last >= 5 MiB), else streamed
        if all(p.size >= 5 * 1024 * 1024 for p in parts[:-1]):
            ref = await blocking(self._copy_blob, [(p.ref, p.size) for p in parts])
        else:
            ref = (await self.stage(self._read_parts(parts))).ref
        size = sum(p.size for p in parts)

        try:
            info, garbage = await blocking(self._commit_upload, bucket, upload, ref, size, etag)
        except BaseException:
            await asyncio.shield(blocking(self._unlink, [ref]))
            raise
        await blocking(self._unlink, garbage)
        return info

    async def _read_parts(self, parts: list[PartInfo]) -> AsyncIterator[bytes]:
        for part in parts:
            answer = await blocking(self.s3.get_object, Bucket=self.bucket, Key=engine_name(part.ref))
            async for chunk in _body_chunks(answer["Body"]):
                yield chunk


class _Empty:
    """The body of an empty range: nothing to ask the engine for."""

    def read(self, size: int) -> bytes:
        return b""

    def close(self) -> None:
        pass
