"""`env.R2("bucket")`: the Workers R2 binding's shape (put, get with a range, head, list, delete), in process
on the same service as the S3 wire. Objects carry key, version, size, etag, httpEtag, uploaded,
httpMetadata, customMetadata, checksums, storageClass; a body is read with `text()`, `json()`,
`arrayBuffer()` or streamed by iterating `body`. snake_case aliases are there for Python."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncGenerator, Iterator
from datetime import datetime
from typing import Any

from kumo.api.threads import blocking
from kumo.r2 import errors
from kumo.r2.digests import BodyDigests
from kumo.r2.preconditions import Conditions
from kumo.r2.service import R2Service
from kumo.r2.store import HttpMetadata, ObjectInfo, ObjectMeta
from kumo.timestamps import parse_iso

BLOCK = 1024 * 1024
_HTTP_NAMES = {"contentType": "content_type", "contentLanguage": "content_language",
               "contentDisposition": "content_disposition", "contentEncoding": "content_encoding",
               "cacheControl": "cache_control", "cacheExpiry": "expires"}


def _http_metadata(http: HttpMetadata) -> dict[str, str]:
    return {camel: getattr(http, snake) for camel, snake in _HTTP_NAMES.items() if getattr(http, snake)}


class R2Object:
    def __init__(self, info: ObjectInfo, range_: dict | None = None):
        self.key = info.key
        self.version = info.version
        self.size = info.size
        self.etag = info.etag
        self.httpEtag = info.http_etag  # noqa: N815 (Workers names)
        self.uploaded = parse_iso(info.uploaded)
        self.httpMetadata = _http_metadata(info.meta.http)  # noqa: N815
        self.customMetadata = dict(info.meta.custom)  # noqa: N815
        self.checksums = {"md5": info.etag} if "-" not in info.etag else {}
        self.checksums.update(info.checksums)
        self.storageClass = info.meta.storage_class  # noqa: N815
        self.range = range_

    http_etag = property(lambda self: self.httpEtag)
    http_metadata = property(lambda self: self.httpMetadata)
    custom_metadata = property(lambda self: self.customMetadata)

    def writeHttpMetadata(self, headers: dict) -> None:  # noqa: N802
        names = {"contentType": "content-type", "contentLanguage": "content-language",
                 "contentDisposition": "content-disposition", "contentEncoding": "content-encoding",
                 "cacheControl": "cache-control", "cacheExpiry": "expires"}
        for camel, value in self.httpMetadata.items():
            headers[names[camel]] = value

    def __repr__(self) -> str:
        return f"R2Object(key={self.key!r}, size={self.size}, etag={self.etag!r})"


class R2ObjectBody(R2Object):
    """An object with its bytes, read once: `text()`, `json()`, `arrayBuffer()`, or iterate `body`."""

    def __init__(self, info: ObjectInfo, chunks: AsyncGenerator[bytes, None], loop, range_: dict | None):
        super().__init__(info, range_)
        self._chunks = chunks
        self._loop = loop
        self.bodyUsed = False  # noqa: N815

    @property
    def body(self) -> Iterator[bytes]:
        if self.bodyUsed:
            raise errors.InvalidRequest("The body has already been read.")
        self.bodyUsed = True
        while True:
            try:
                yield self._loop.call(self._chunks.__anext__())
            except StopAsyncIteration:
                return

    def arrayBuffer(self) -> bytes:  # noqa: N802
        return b"".join(self.body)

    def text(self) -> str:
        return self.arrayBuffer().decode()

    def json(self) -> Any:
        return json.loads(self.arrayBuffer())

    def close(self) -> None:
        if not self.bodyUsed:
            self.bodyUsed = True
            self._loop.call(self._chunks.aclose())

    array_buffer = arrayBuffer


def _conditions(only_if: dict | None) -> Conditions | None:
    if not only_if:
        return None
    unknown = set(only_if) - {"etagMatches", "etagDoesNotMatch", "uploadedBefore", "uploadedAfter"}
    if unknown:
        raise errors.InvalidArgument(f"unknown onlyIf condition(s): {', '.join(sorted(unknown))}")

    def tags(value):
        if value is None:
            return None
        return tuple(v.strip('"') for v in ([value] if isinstance(value, str) else value))

    return Conditions(if_match=tags(only_if.get("etagMatches")), if_none_match=tags(only_if.get("etagDoesNotMatch")),
                      if_unmodified_since=only_if.get("uploadedBefore"),
                      if_modified_since=only_if.get("uploadedAfter"))


async def _chunks_of(value: Any) -> AsyncGenerator[bytes, None]:
    if isinstance(value, str):
        yield value.encode()
    elif isinstance(value, (bytes, bytearray, memoryview)):
        yield bytes(value)
    elif value is None:
        return
    elif hasattr(value, "read"):  # a file object: read in a worker thread, a block at a time
        while block := await blocking(value.read, BLOCK):
            yield block
    else:
        for block in value:  # an iterable of bytes
            yield bytes(block)


def _checksum_value(value: str | bytes) -> str:
    """Workers accept a checksum as hex or as bytes; S3 and kumo keep them as base64."""
    raw = bytes.fromhex(value) if isinstance(value, str) else bytes(value)
    return base64.b64encode(raw).decode()


class R2Bucket:
    def __init__(self, service: R2Service, account_id: str, bucket: str, loop):
        self._service = service
        self._account = account_id
        self._bucket = bucket
        self._loop = loop

    def head(self, key: str) -> R2Object | None:
        try:
            return R2Object(self._loop.call(self._service.head_object(self._account, self._bucket, key)))
        except errors.NoSuchKey:
            return None

    def get(self, key: str, options: dict | None = None) -> R2ObjectBody | R2Object | None:
        """The object and its body; None if there is none; the object without a body if `onlyIf` fails."""
        options = options or {}
        unknown = set(options) - {"range", "onlyIf"}
        if unknown:
            raise errors.InvalidArgument(f"unknown get option(s): {', '.join(sorted(unknown))}")
        offset = length = None
        wanted = options.get("range")
        if wanted is not None:
            if "suffix" in wanted:
                info = self.head(key)
                if info is None:
                    return None
                offset, length = max(info.size - int(wanted["suffix"]), 0), int(wanted["suffix"])
            else:
                offset, length = int(wanted.get("offset", 0)), wanted.get("length")
        try:
            result = self._loop.call(self._service.get_object(
                self._account, self._bucket, key, conditions=_conditions(options.get("onlyIf")),
                offset=offset, length=None if length is None else int(length)))
        except errors.NoSuchKey:
            return None
        except (errors.PreconditionFailed, errors.NotModified):
            return self.head(key)
        served = None if result.range is None else {"offset": result.range.start,
                                                    "length": result.range.end - result.range.start}
        return R2ObjectBody(result.info, result.reader.chunks(), self._loop, served)

    def put(self, key: str, value: Any, options: dict | None = None) -> R2Object | None:
        """Store `value` (str, bytes, a file object or an iterable of bytes); None if `onlyIf` fails."""
        options = options or {}
        unknown = set(options) - {"httpMetadata", "customMetadata", "onlyIf", "md5", "sha1", "sha256",
                                  "storageClass"}
        if unknown:
            raise errors.InvalidArgument(f"unknown put option(s): {', '.join(sorted(unknown))}")
        http = options.get("httpMetadata") or {}
        bad = set(http) - set(_HTTP_NAMES)
        if bad:
            raise errors.InvalidArgument(f"unknown httpMetadata field(s): {', '.join(sorted(bad))}")
        expires = http.get("cacheExpiry")
        if isinstance(expires, datetime):
            from email.utils import format_datetime

            expires = format_datetime(expires, usegmt=True)
        meta = ObjectMeta(
            http=HttpMetadata(**{_HTTP_NAMES[k]: v for k, v in http.items() if k != "cacheExpiry"}, expires=expires),
            custom={str(k): str(v) for k, v in (options.get("customMetadata") or {}).items()},
            storage_class=options.get("storageClass", "Standard"),
        )
        if meta.storage_class not in ("Standard", "InfrequentAccess"):
            raise errors.InvalidStorageClass(f"storageClass {meta.storage_class!r} is not Standard or "
                                             "InfrequentAccess.")
        md5 = options.get("md5")
        digests = BodyDigests(content_md5=_checksum_value(md5) if md5 else None,
                              checksums={a: _checksum_value(options[a]) for a in ("sha1", "sha256") if options.get(a)})
        try:
            info = self._loop.call(self._service.put_object(self._account, self._bucket, key, _chunks_of(value), meta,
                                                            digests, _conditions(options.get("onlyIf"))))
        except errors.PreconditionFailed:
            return None
        return R2Object(info)

    def delete(self, keys: str | list[str]) -> None:
        for key in [keys] if isinstance(keys, str) else keys:
            self._loop.call(self._service.delete_object(self._account, self._bucket, key))

    def list(self, options: dict | None = None) -> dict:
        options = options or {}
        unknown = set(options) - {"limit", "prefix", "cursor", "delimiter", "startAfter", "include"}
        if unknown:
            raise errors.InvalidArgument(f"unknown list option(s): {', '.join(sorted(unknown))}")
        limit = int(options.get("limit", 1000))
        if not 1 <= limit <= 1000:
            raise errors.InvalidArgument("limit must be between 1 and 1000")
        include = set(options.get("include") or [])
        if include - {"httpMetadata", "customMetadata"}:
            raise errors.InvalidArgument("include may name httpMetadata and customMetadata")
        from kumo.r2.service import decode_token, encode_token

        if options.get("cursor"):
            after = decode_token(options["cursor"])
        else:
            after = (options.get("startAfter") or "").encode()
        listing = self._loop.call(self._service.list_objects(self._account, self._bucket,
                                                             options.get("prefix") or "",
                                                             options.get("delimiter") or "", after, limit))
        objects = []
        for info in listing.objects:
            obj = R2Object(info)
            if "httpMetadata" not in include:
                obj.httpMetadata = {}
            if "customMetadata" not in include:
                obj.customMetadata = {}
            objects.append(obj)
        out: dict[str, Any] = {"objects": objects, "truncated": listing.truncated,
                               "delimitedPrefixes": listing.prefixes}
        if listing.truncated and listing.next_after is not None:
            out["cursor"] = encode_token(listing.next_after)
        return out
