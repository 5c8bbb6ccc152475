"""R2's semantics over any `ObjectStore` (r2/store.py): what the S3 wire, the bucket REST API, the
`env.R2` binding, the CLI and other products (custom models, AI Search) call. It knows nothing of HTTP.

Reading an object from another product:

    reader = await platform.r2.get_object(account, "models", "resnet/v3.onnx")
    async for chunk in reader.chunks(): ...        # streams; `reader.info` has size, etag, metadata
    await platform.r2.download_to(account, "models", "resnet/v3.onnx", Path("/tmp/v3.onnx"))  # a local file

Writing: `await platform.r2.put_object(account, bucket, key, chunks, ObjectMeta(...))` with any async
iterable of bytes (`put_bytes` for small values). Every method raises `kumo.r2.errors` (S3's codes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from kumo.api.threads import blocking
from kumo.r2 import errors
from kumo.r2.digests import BodyDigests
from kumo.r2.preconditions import ByteRange, Conditions, parse_range
from kumo.r2.store import (
    BucketInfo,
    ObjectInfo,
    ObjectMeta,
    ObjectReader,
    ObjectStore,
    PartInfo,
    UploadInfo,
)

MAX_KEY_BYTES = 1024
MAX_LIST_KEYS = 1000
MIN_FETCH = 16  # rows a listing asks for at least, once common prefixes show up
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_SIZE = 5 * 1024 * 1024 * 1024
MAX_PARTS = 10_000
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
LOCATIONS = ("apac", "eeur", "enam", "weur", "wnam", "oc")
STORAGE_CLASSES = ("Standard", "InfrequentAccess")


@dataclass
class Listing:
    objects: list[ObjectInfo] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    next_after: bytes | None = None  # resume point (exclusive, UTF-8 bytes) when truncated
    last: str | None = None  # the last key or prefix returned (S3 V1's NextMarker)


@dataclass(frozen=True)
class GetResult:
    reader: ObjectReader
    range: ByteRange | None

    @property
    def info(self) -> ObjectInfo:
        return self.reader.info


def multipart_etag(parts: list[PartInfo]) -> str:
    joined = b"".join(bytes.fromhex(p.etag) for p in parts)
    return f"{hashlib.md5(joined).hexdigest()}-{len(parts)}"


def check_key(key: str) -> None:
    if not key:
        raise errors.InvalidArgument("An object key must not be empty.")
    try:
        size = len(key.encode())
    except UnicodeEncodeError:
        raise errors.InvalidArgument("An object key must be valid UTF-8.") from None
    if size > MAX_KEY_BYTES:
        raise errors.KeyTooLong(f"Your key is {size} bytes; the limit is {MAX_KEY_BYTES}.", Size=str(size),
                                MaxSizeAllowed=str(MAX_KEY_BYTES))


def _as_bytes_after(value: str | None) -> bytes:
    return value.encode() if value else b""


def _named(account: str, name: str) -> BucketInfo:
    """A bucket by name alone, for reads: an object found proves its bucket exists (a bucket with objects
    cannot be deleted), so the bucket is looked up only when the object is not there."""
    return BucketInfo(account, name, "")


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


class R2Service:
    def __init__(self, store: ObjectStore):
        self.store = store

    def start(self) -> None:
        self.store.start()

    def close(self) -> None:
        self.store.close()

    # -- buckets --------------------------------------------------------------------------------------------------

    async def create_bucket(self, account: str, name: object, location_hint: str | None = None,
                            storage_class: str | None = None) -> BucketInfo:
        if not isinstance(name, str) or not BUCKET_NAME.match(name):
            raise errors.InvalidBucketName(
                "Bucket names must be 3-63 characters of lowercase letters, digits and hyphens, and begin and end "
                "with a letter or digit.", BucketName=str(name))
        location = (location_hint or "auto").lower()
        if location not in ("auto", *LOCATIONS):
            raise errors.InvalidArgument(f"locationHint {location_hint!r} is not one of {', '.join(LOCATIONS)}")
        storage_class = storage_class or "Standard"
        if storage_class not in STORAGE_CLASSES:
            raise errors.InvalidArgument(f"storageClass {storage_class!r} is not one of "
                                         f"{', '.join(STORAGE_CLASSES)}")
        bucket = await self.store.create_bucket(account, name, location, storage_class)
        if bucket is None:
            raise errors.BucketAlreadyOwnedByYou(
                "The bucket you tried to create already exists, and you own it.", BucketName=name)
        return bucket

    async def bucket(self, account: str, name: str) -> BucketInfo:
        bucket = await self.store.get_bucket(account, name) if name else None
        if bucket is None:
            raise errors.NoSuchBucket("The specified bucket does not exist.", BucketName=name)
        return bucket

    async def list_buckets(self, account: str) -> list[BucketInfo]:
        return await self.store.list_buckets(account)

    async def delete_bucket(self, account: str, name: str) -> None:
        bucket = await self.bucket(account, name)
        if not await self.store.delete_bucket(bucket):
            raise errors.BucketNotEmpty("The bucket you tried to delete is not empty.", BucketName=name)

    # -- objects --------------------------------------------------------------------------------------------------

    async def put_object(self, account: str, bucket_name: str, key: str, body: AsyncIterable[bytes],
                         meta: ObjectMeta | None = None, digests: BodyDigests | None = None,
                         conditions: Conditions | None = None) -> ObjectInfo:
        """Store `body` at `key`. `digests` carries what the request promised (Content-MD5, payload SHA-256,
        checksums); nothing is stored if a promise is broken."""
        check_key(key)
        bucket = await self.bucket(account, bucket_name)
        digests = digests or BodyDigests()
        if conditions is not None:
            await self._check_write(bucket, key, conditions)
        blob = await self.store.stage(body, digests.update)
        try:
            checksums = digests.verify()
        except errors.R2Error:
            await self.store.discard(blob.ref)
            raise
        stored = {a: v for a, v in checksums.items() if a in digests.expected}
        return await self.store.commit_object(bucket, key, blob, meta or ObjectMeta(), digests.md5_hex, stored)

    async def put_bytes(self, account: str, bucket: str, key: str, data: bytes,
                        meta: ObjectMeta | None = None) -> ObjectInfo:
        return await self.put_object(account, bucket, key, _one(data), meta)

    async def _check_write(self, bucket: BucketInfo, key: str, conditions: Conditions) -> None:
        current = await self.store.head_object(bucket, key)
        if current is None:
            if conditions.if_match is not None:
                raise errors.PreconditionFailed("At least one of the pre-conditions you specified did not hold",
                                                Condition="If-Match")
            return
        conditions.check(current, reading=False)

    async def head_object(self, account: str, bucket_name: str, key: str,
                          conditions: Conditions | None = None) -> ObjectInfo:
        info = await self.store.head_object(_named(account, bucket_name), key) if key and bucket_name else None
        if info is None:
            await self.bucket(account, bucket_name)  # NoSuchBucket rather than NoSuchKey when it is the bucket
            raise errors.NoSuchKey("The specified key does not exist.", Key=key)
        if conditions is not None:
            conditions.check(info)
        return info

    async def get_object(self, account: str, bucket_name: str, key: str, range_header: str | None = None,
                         conditions: Conditions | None = None, offset: int | None = None,
                         length: int | None = None) -> GetResult:
        """An open object (close it, or read `chunks()` to the end). A range comes as an HTTP `Range` header
        or as offset/length (the binding's form)."""
        if not key or not bucket_name:
            await self.bucket(account, bucket_name)
            raise errors.NoSuchKey("The specified key does not exist.", Key=key)
        ranged = bool(range_header) or offset is not None or length is not None
        if not ranged:
            reader = await self.store.open_object(_named(account, bucket_name), key)
            if reader is None:
                await self.bucket(account, bucket_name)
                raise errors.NoSuchKey("The specified key does not exist.", Key=key)
            try:
                if conditions is not None:
                    conditions.check(reader.info)
            except BaseException:
                await reader.aclose()
                raise
            return GetResult(reader, None)
        bucket = await self.bucket(account, bucket_name)
        info = await self.store.head_object(bucket, key)  # the size first, to resolve the range against
        if info is None:
            raise errors.NoSuchKey("The specified key does not exist.", Key=key)
        if conditions is not None:
            conditions.check(info)
        if offset is not None or length is not None:
            start = min(offset or 0, info.size)
            end = info.size if length is None else min(start + length, info.size)
            wanted: ByteRange | None = ByteRange(start, end, info.size)
        else:
            wanted = parse_range(range_header, info.size)
        reader = await self.store.open_object(bucket, key, *((wanted.start, wanted.end) if wanted else (0, None)))
        if reader is None or reader.info.version != info.version:  # replaced in between: the range may not fit
            if reader is not None:
                await reader.aclose()
            raise errors.PreconditionFailed("The object changed while it was being read; retry.")
        return GetResult(reader, wanted)

    async def read_bytes(self, account: str, bucket: str, key: str) -> bytes:
        """A whole (small) object in memory."""
        result = await self.get_object(account, bucket, key)
        return b"".join([chunk async for chunk in result.reader.chunks()])

    async def download_to(self, account: str, bucket: str, key: str, path: Path) -> ObjectInfo:
        """Stream an object into a local file (model weights, datasets): written beside `path` and renamed into
        place when complete, so a reader of `path` never sees half a file."""
        import asyncio
        import os

        result = await self.get_object(account, bucket, key)
        temp = path.with_name(f".{path.name}.{result.info.version}.part")
        try:
            with open(temp, "wb") as out:
                async for chunk in result.reader.chunks():
                    await blocking(out.write, chunk)
            os.replace(temp, path)
        except BaseException:
            await result.reader.aclose()
            temp.unlink(missing_ok=True)
            raise
        return result.info

    async def delete_object(self, account: str, bucket_name: str, key: str) -> None:
        """S3 answers 204 whether or not the key existed."""
        bucket = await self.bucket(account, bucket_name)
        if key:
            await self.store.delete_object(bucket, key)

    async def delete_objects(self, account: str, bucket_name: str, keys: list[str]) -> list[tuple[str, errors.R2Error | None]]:
        if len(keys) > 1000:
            raise errors.MalformedXML("A DeleteObjects request may name at most 1000 keys.")
        bucket = await self.bucket(account, bucket_name)
        results: list[tuple[str, errors.R2Error | None]] = []
        for key in keys:
            try:
                check_key(key)
                await self.store.delete_object(bucket, key)
                results.append((key, None))
            except errors.R2Error as exc:
                results.append((key, exc))
        return results

    async def copy_object(self, account: str, source_bucket: str, source_key: str, bucket_name: str, key: str,
                          meta: ObjectMeta | None, conditions: Conditions | None = None) -> ObjectInfo:
        """Copy an object; `meta` None keeps the source's metadata (S3's COPY directive)."""
        check_key(key)
        source = await self.head_object(account, source_bucket, source_key)
        if conditions is not None:
            try:
                conditions.check(source)
            except errors.NotModified:
                raise errors.PreconditionFailed("At least one of the pre-conditions you specified did not hold",
                                                Condition="x-amz-copy-source-If-None-Match") from None
        bucket = await self.bucket(account, bucket_name)
        src_bucket = await self.bucket(account, source_bucket)
        info = await self.store.copy_object(source, src_bucket, bucket, key, meta if meta is not None else source.meta)
        if info is None:
            raise errors.NoSuchKey("The specified key does not exist.", Key=source_key)
        return info

    async def list_objects(self, account: str, bucket_name: str, prefix: str = "", delimiter: str = "",
                           after: bytes = b"", max_keys: int = MAX_LIST_KEYS) -> Listing:
        """S3's listing: keys after `after` (exclusive, UTF-8 bytes) under `prefix`, with keys sharing a part
        up to `delimiter` rolled up into one common prefix."""
        bucket = await self.bucket(account, bucket_name)
        max_keys = max(0, min(max_keys, MAX_LIST_KEYS))
        listing = Listing()
        position = after
        count = 0
        fetch = max_keys
        while count < max_keys:
            batch = await self.store.list_objects(bucket, prefix, position, fetch)
            if not batch:
                return listing
            inside = None  # the common prefix the keys being read roll up into
            found = 0
            for info in batch:
                if inside is not None and info.key.startswith(inside):
                    continue  # (position is already past it)
                rolled = None
                if delimiter:
                    at = info.key.find(delimiter, len(prefix))
                    if at >= 0:
                        rolled = info.key[:at + len(delimiter)]
                if rolled is None:
                    inside = None
                    listing.objects.append(info)
                    listing.last = info.key
                    position = info.key.encode()
                else:
                    inside = rolled
                    listing.prefixes.append(rolled)
                    listing.last = rolled
                    position = rolled.encode() + b"\xff"  # past every key under it (UTF-8 has no 0xff)
                found += 1
                count += 1
                if count >= max_keys:
                    break
            # A batch spent mostly under one common prefix says the next may be too: ask for a few rows more
            # than this one gave, not for the whole page (each common prefix would read a page of its keys).
            fetch = min(max_keys - count, max(MIN_FETCH, 2 * found))
        listing.truncated = bool(await self.store.list_objects(bucket, prefix, position, 1))
        if listing.truncated:
            listing.next_after = position
        return listing

    # -- multipart uploads ----------------------------------------------------------------------------------------

    async def create_multipart_upload(self, account: str, bucket_name: str, key: str, meta: ObjectMeta | None = None,
                                      checksum_algorithm: str | None = None) -> UploadInfo:
        check_key(key)
        bucket = await self.bucket(account, bucket_name)
        if checksum_algorithm is not None:
            from kumo.r2.digests import new_checksum

            new_checksum(checksum_algorithm)  # refuses an unknown one
        return await self.store.create_upload(bucket, key, meta or ObjectMeta(), checksum_algorithm)

    async def _upload(self, account: str, bucket_name: str, key: str, upload_id: str) -> tuple[BucketInfo, UploadInfo]:
        bucket = await self.bucket(account, bucket_name)
        upload = await self.store.get_upload(bucket, upload_id)
        if upload is None or upload.key != key:
            raise errors.NoSuchUpload("The specified multipart upload does not exist. The upload ID may be invalid, "
                                      "or the upload may have been aborted or completed.", UploadId=upload_id)
        return bucket, upload

    async def upload_part(self, account: str, bucket_name: str, key: str, upload_id: str, number: int,
                          body: AsyncIterable[bytes], digests: BodyDigests | None = None) -> PartInfo:
        if not 1 <= number <= MAX_PARTS:
            raise errors.InvalidArgument(f"Part number must be an integer between 1 and {MAX_PARTS}, inclusive.",
                                         ArgumentName="partNumber", ArgumentValue=str(number))
        _, upload = await self._upload(account, bucket_name, key, upload_id)
        digests = digests or BodyDigests()
        blob = await self.store.stage(body, digests.update)
        try:
            checksums = digests.verify()
            if blob.size > MAX_PART_SIZE:
                raise errors.EntityTooLarge(f"A part may be at most {MAX_PART_SIZE} bytes.")
        except errors.R2Error:
            await self.store.discard(blob.ref)
            raise
        kept = {a: v for a, v in checksums.items() if a in digests.expected}
        part = await self.store.put_part(upload, number, replace(blob, md5=digests.md5_hex, checksums=kept))
        if part is None:
            await self.store.discard(blob.ref)
            raise errors.NoSuchUpload("The specified multipart upload does not exist.", UploadId=upload_id)
        return part

    async def list_parts(self, account: str, bucket_name: str, key: str, upload_id: str) -> tuple[UploadInfo, list[PartInfo]]:
        _, upload = await self._upload(account, bucket_name, key, upload_id)
        return upload, await self.store.list_parts(upload)

    async def complete_multipart_upload(self, account: str, bucket_name: str, key: str, upload_id: str,
                                        chosen: list[tuple[int, str]]) -> ObjectInfo:
        """`chosen`: (part number, ETag without quotes) in the order the client lists them."""
        bucket, upload = await self._upload(account, bucket_name, key, upload_id)
        if not chosen:
            raise errors.MalformedXML("You must specify at least one part.")
        stored = {p.number: p for p in await self.store.list_parts(upload)}
        parts: list[PartInfo] = []
        for number, etag in chosen:
            if parts and number <= parts[-1].number:
                raise errors.InvalidPartOrder("The list of parts was not in ascending order. The parts list must be "
                                              "specified in order by part number.")
            part = stored.get(number)
            if part is None or part.etag != etag.strip('"'):
                raise errors.InvalidPart("One or more of the specified parts could not be found. The part may not "
                                         "have been uploaded, or the specified entity tag may not match the "
                                         "part's entity tag.", PartNumber=str(number), ETag=etag)
            parts.append(part)
        for part in parts[:-1]:
            if part.size < MIN_PART_SIZE:
                raise errors.EntityTooSmall("Your proposed upload is smaller than the minimum allowed object size.",
                                            PartNumber=str(part.number), ProposedSize=str(part.size),
                                            MinSizeAllowed=str(MIN_PART_SIZE))
        if len(parts) > 1:  # R2: every part but the last has one size, and the last is no larger
            size = parts[0].size
            if any(p.size != size for p in parts[:-1]) or parts[-1].size > size:
                raise errors.InvalidPart("All non-trailing parts must have the same length, and the last part "
                                         "must be no larger than them.")
        info = await self.store.complete_upload(bucket, upload, parts, multipart_etag(parts))
        if info is None:
            raise errors.NoSuchUpload("The specified multipart upload does not exist.", UploadId=upload_id)
        return info

    async def abort_multipart_upload(self, account: str, bucket_name: str, key: str, upload_id: str) -> None:
        bucket, upload = await self._upload(account, bucket_name, key, upload_id)
        await self.store.abort_upload(bucket, upload)

    async def list_multipart_uploads(self, account: str, bucket_name: str, prefix: str = "", after: str = "",
                                     max_uploads: int = MAX_LIST_KEYS) -> tuple[list[UploadInfo], bool]:
        bucket = await self.bucket(account, bucket_name)
        limit = max(0, min(max_uploads, MAX_LIST_KEYS))
        uploads = await self.store.list_uploads(bucket, prefix, _as_bytes_after(after), limit + 1)
        return uploads[:limit], len(uploads) > limit


def decode_token(token: str) -> bytes:
    """A ListObjectsV2 continuation token back into its resume point."""
    try:
        return base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise errors.InvalidArgument("The continuation token provided is incorrect",
                                     ArgumentName="continuation-token") from None


def encode_token(after: bytes) -> str:
    return base64.urlsafe_b64encode(after).decode().rstrip("=")
