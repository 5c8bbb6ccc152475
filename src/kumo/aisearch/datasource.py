"""An instance's data source as a sync sees it: a list of entries (key, size, version, timestamp, custom
metadata) and a way to read one. Two kinds, both `type: "r2"` on the wire:

- an R2 bucket of the instance's account (Cloudflare's shape: `source` is the bucket name), read through
  kumo's R2 service in process; an entry's version is the object's ETag, and its `x-amz-meta-*` fields are
  the item's custom metadata;
- a local folder (kumo's addition: `source` is an absolute path); an entry's version is its size and
  modification time, and unchanged bytes (sha256) are not embedded again.

Both filter keys by `source_params.prefix`, `include_items` and `exclude_items` (sources.wanted)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from kumo.aisearch import sources
from kumo.aisearch.store import ItemRecord
from kumo.r2 import errors as r2_errors
from kumo.r2.service import R2Service
from kumo.api.threads import blocking
from kumo.timestamps import parse_iso

MAX_OBJECT_BYTES = 4 * 1024 * 1024  # Cloudflare's limit for an R2 source's files


@dataclass(frozen=True)
class Entry:
    key: str
    size: int
    version: str  # what changes when the content may have: an ETag, or "size:mtime" of a file
    timestamp_ms: int
    custom: dict[str, str] = field(default_factory=dict)


class TooLarge(Exception):
    pass


def is_folder(source: str) -> bool:
    """A folder path (kumo's addition) rather than a bucket name (Cloudflare's shape)."""
    return source.startswith(("/", "~", "."))


class FolderSource:
    def __init__(self, folder: str):
        self.folder = folder
        self.id = sources.source_id(folder)
        self.where = folder

    async def scan(self, params: dict[str, Any]) -> list[Entry]:
        files = await blocking(sources.scan, self.folder, params)
        return [Entry(f.key, f.size, f"{f.size}:{f.mtime_ms}", f.mtime_ms) for f in files]

    def unchanged(self, item: ItemRecord, entry: Entry) -> bool:
        """Same size and modification time: not even read."""
        return item.file_size == entry.size and item.metadata.get("timestamp") == entry.timestamp_ms

    async def read(self, key: str) -> bytes | None:
        return await blocking(sources.read_key, self.folder, key)

    async def entry(self, key: str) -> Entry | None:
        path = Path(self.folder) / key
        try:
            stat = await blocking(path.stat)
        except OSError:
            return None
        mtime_ms = int(stat.st_mtime * 1000)
        return Entry(key, stat.st_size, f"{stat.st_size}:{mtime_ms}", mtime_ms)

    def checksum(self, data: bytes, entry: Entry) -> str:
        return hashlib.sha256(data).hexdigest()


class BucketSource:
    def __init__(self, r2: R2Service, account: str, bucket: str):
        self.r2 = r2
        self.account = account
        self.bucket = bucket
        self.id = f"r2:{bucket}"
        self.where = f"R2 bucket {bucket}"

    async def scan(self, params: dict[str, Any]) -> list[Entry]:
        prefix = (params.get("prefix") or "").lstrip("/")
        found, after = [], b""
        while True:
            page = await self.r2.list_objects(self.account, self.bucket, prefix=prefix, after=after)
            for info in page.objects:
                if not info.key.endswith("/") and sources.wanted(info.key, params):  # "folder/" markers hold nothing
                    found.append(_entry(info))
            if not page.truncated or page.next_after is None:
                return found
            after = page.next_after

    def unchanged(self, item: ItemRecord, entry: Entry) -> bool:
        return item.checksum == entry.version

    async def read(self, key: str) -> bytes | None:
        try:
            info = await self.r2.head_object(self.account, self.bucket, key)
            if info.size > MAX_OBJECT_BYTES:
                raise TooLarge(f"{key} is {info.size} bytes; AI Search reads objects of up to "
                               f"{MAX_OBJECT_BYTES // (1024 * 1024)} MB")
            return await self.r2.read_bytes(self.account, self.bucket, key)
        except (r2_errors.NoSuchKey, r2_errors.NoSuchBucket):
            return None

    async def entry(self, key: str) -> Entry | None:
        try:
            return _entry(await self.r2.head_object(self.account, self.bucket, key))
        except (r2_errors.NoSuchKey, r2_errors.NoSuchBucket):
            return None

    def checksum(self, data: bytes, entry: Entry) -> str:
        return entry.version


def _entry(info: Any) -> Entry:
    return Entry(info.key, info.size, info.etag, _ms(info.uploaded), dict(info.meta.custom))


def _ms(iso: str) -> int:
    return int(parse_iso(iso).timestamp() * 1000)


def source_of(config: dict[str, Any], account: str, r2: R2Service | None) -> FolderSource | BucketSource | None:
    source = config.get("source")
    if not source:
        return None
    if is_folder(source):
        return FolderSource(source)
    if r2 is None:
        raise RuntimeError("this kumo was built without R2; bucket sources need it")
    return BucketSource(r2, account, source)
