"""What R2 needs from a storage backend: the `ObjectStore` protocol and the records it trades in.

`R2Service` (r2/service.py) owns R2's semantics: bucket and key rules, conditional requests, ranges, listing
with a delimiter, multipart rules, digests and checksums. A backend only keeps bytes and rows, and makes a
write visible atomically. Bytes reach a backend in two steps, so nothing half-written is ever visible:

    blob = await store.stage(body, digests.update)  # the bytes, durable but under no key; digested on the way
    ...                                      # the service checks digests; on a mismatch: await store.discard(blob.ref)
    info = await store.commit_object(bucket, key, blob, meta, etag, checksums)  # visible, replacing any older one

How a backend plugs in: write one module (in `kumo.storage`) with a class that has every method below, and
choose it in `kumo.platform.Platform` from Settings, the one place backends are chosen. Embedded:
`kumo.storage.r2_embedded.EmbeddedObjectStore` (blobs as id-named files under the data dir, rows in SQLite).
Scaled out, an S3-compatible engine (SeaweedFS, MinIO, AWS S3) would keep the blobs (stored under ids, never
under the user's key) and PostgreSQL the rows; nothing above the backend changes. All methods are coroutines;
a backend with blocking I/O runs it in threads. Keys are `str` (UTF-8, at most 1024 bytes, checked by the
service); listings are in the UTF-8 byte order of keys, as S3's.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class BucketInfo:
    account: str
    name: str
    created: str  # ISO 8601, UTC, milliseconds ("2026-12-03T18:43:06.123Z")
    location: str = "auto"
    storage_class: str = "Standard"


@dataclass(frozen=True)
class HttpMetadata:
    """The standard headers kept with an object and given back on GET/HEAD (the binding's `httpMetadata`)."""

    content_type: str | None = None
    content_language: str | None = None
    content_disposition: str | None = None
    content_encoding: str | None = None
    cache_control: str | None = None
    expires: str | None = None  # an HTTP date, as sent


@dataclass(frozen=True)
class ObjectMeta:
    """What a writer says about an object besides its bytes."""

    http: HttpMetadata = field(default_factory=HttpMetadata)
    custom: dict[str, str] = field(default_factory=dict)  # x-amz-meta-* (names lower-cased), customMetadata
    storage_class: str = "Standard"


@dataclass(frozen=True)
class StagedBlob:
    """Bytes a backend holds durably but shows under no key yet. `ref` is the backend's own handle."""

    ref: str
    size: int
    md5: str  # hex MD5 of the bytes
    checksums: dict[str, str] = field(default_factory=dict)  # algorithm ("crc32", "sha256"...) -> base64 value


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str  # without quotes: hex MD5, or "<hex>-<parts>" for a multipart object
    uploaded: str  # ISO 8601 UTC with milliseconds
    meta: ObjectMeta = field(default_factory=ObjectMeta)
    checksums: dict[str, str] = field(default_factory=dict)  # verified on upload; full-object only
    version: str = ""  # changes on every write of the key (the binding's `version`)

    @property
    def http_etag(self) -> str:
        return f'"{self.etag}"'


@dataclass(frozen=True)
class UploadInfo:
    """A multipart upload in progress."""

    upload_id: str
    bucket: str
    key: str
    initiated: str
    meta: ObjectMeta = field(default_factory=ObjectMeta)
    checksum_algorithm: str | None = None


@dataclass(frozen=True)
class PartInfo:
    number: int
    size: int
    etag: str  # hex MD5 of the part, without quotes
    uploaded: str
    checksums: dict[str, str] = field(default_factory=dict)
    ref: str = ""  # the backend's handle on the part's bytes


class ObjectReader(Protocol):
    """An open object: its record and its bytes (or a range of them), read as a stream. Opening pins the
    version: a concurrent overwrite or delete does not change what an open reader yields."""

    info: ObjectInfo

    def chunks(self) -> AsyncGenerator[bytes, None]: ...

    async def aclose(self) -> None: ...


class ObjectStore(Protocol):
    # buckets
    async def create_bucket(self, account: str, name: str, location: str, storage_class: str) -> BucketInfo | None:
        """The new bucket, or None when the account already has one of that name."""

    async def get_bucket(self, account: str, name: str) -> BucketInfo | None: ...

    async def list_buckets(self, account: str) -> list[BucketInfo]: ...

    async def delete_bucket(self, bucket: BucketInfo) -> bool:
        """False when the bucket still holds objects (it is kept); uploads in progress are aborted."""

    # bytes
    async def stage(self, body: AsyncIterable[bytes], observe: Callable[[bytes], None] | None = None) -> StagedBlob:
        """Store the body durably, unseen; `md5`/`checksums` of the result are left for the service to fill.
        `observe` (the service's digests) is called with every byte of the body, in order, one call at a time;
        a backend calls it where it handles the block (a worker thread is fine, alongside the block's write:
        it is thread-safe per body)."""

    async def discard(self, ref: str) -> None: ...

    # objects
    async def commit_object(self, bucket: BucketInfo, key: str, blob: StagedBlob, meta: ObjectMeta,
                            etag: str, checksums: dict[str, str]) -> ObjectInfo:
        """Make `blob` the object at `key`, atomically, durably (done when this returns). Raises NoSuchBucket
        (and drops the blob) if the bucket was deleted meanwhile."""

    async def head_object(self, bucket: BucketInfo, key: str) -> ObjectInfo | None: ...

    async def open_object(self, bucket: BucketInfo, key: str, start: int = 0,
                          end: int | None = None) -> ObjectReader | None:
        """Bytes [start, end) of the object (end None: to its end), or None if there is no such key."""

    async def delete_object(self, bucket: BucketInfo, key: str) -> bool: ...

    async def list_objects(self, bucket: BucketInfo, prefix: str, after: bytes, limit: int) -> list[ObjectInfo]:
        """Objects whose key starts with `prefix` and whose UTF-8 key is > `after`, in byte order."""

    async def copy_object(self, source: ObjectInfo, source_bucket: BucketInfo, bucket: BucketInfo, key: str,
                          meta: ObjectMeta) -> ObjectInfo | None:
        """A new object at `key` with the bytes of `source` (None if the source vanished meanwhile)."""

    # multipart uploads
    async def create_upload(self, bucket: BucketInfo, key: str, meta: ObjectMeta,
                            checksum_algorithm: str | None) -> UploadInfo: ...

    async def get_upload(self, bucket: BucketInfo, upload_id: str) -> UploadInfo | None: ...

    async def list_uploads(self, bucket: BucketInfo, prefix: str, after: bytes, limit: int) -> list[UploadInfo]:
        """Uploads in progress, ordered by key bytes then initiation."""

    async def put_part(self, upload: UploadInfo, number: int, blob: StagedBlob) -> PartInfo | None:
        """Keep `blob` as part `number` (replacing an earlier one); None if the upload is gone."""

    async def list_parts(self, upload: UploadInfo) -> list[PartInfo]: ...

    async def complete_upload(self, bucket: BucketInfo, upload: UploadInfo, parts: list[PartInfo],
                              etag: str) -> ObjectInfo | None:
        """Join `parts` (in this order) into the object, end the upload; None if it was already gone."""

    async def abort_upload(self, bucket: BucketInfo, upload: UploadInfo) -> bool: ...

    # lifecycle
    def start(self) -> None:
        """Clean what a crash left behind (temporary files, unreferenced blobs) before serving."""

    def close(self) -> None: ...
