"""How an S3 request's body is read: plain or aws-chunked, with the digests its headers promise."""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator

from kumo.r2 import errors
from kumo.r2.digests import ALGORITHMS, BodyDigests
from kumo.r2.s3.auth import Authorized
from kumo.r2.s3.chunked import ChunkedDecoder
from kumo.r2.s3.request import S3Request

MAX_PUT_BYTES = 5 * 1024 ** 3  # R2's limit for one PutObject or one part (5 GiB)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _length(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 19):
        raise errors.InvalidArgument(f"{name} must be a non-negative integer.")
    return int(value)


def _checksum_headers(req: S3Request) -> tuple[dict[str, str], tuple[str, ...]]:
    """Checksums sent as headers, and the algorithms to compute (announced in x-amz-trailer or
    x-amz-sdk-checksum-algorithm)."""
    given: dict[str, str] = {}
    for name, value in req.headers.items():
        if name.startswith("x-amz-checksum-") and name not in ("x-amz-checksum-mode", "x-amz-checksum-type",
                                                               "x-amz-checksum-algorithm"):
            algorithm = name[len("x-amz-checksum-"):]
            if algorithm not in ALGORITHMS:
                raise errors.InvalidArgument(f"Checksum algorithm {algorithm.upper()} is not supported; use one of "
                                             f"{', '.join(a.upper() for a in ALGORITHMS)}.", ArgumentName=name)
            given[algorithm] = value
    compute = []
    trailer = req.header("x-amz-trailer")
    if trailer:
        for name in trailer.split(","):
            name = name.strip().lower()
            if not name.startswith("x-amz-checksum-") or name[len("x-amz-checksum-"):] not in ALGORITHMS:
                raise errors.InvalidArgument(f"The trailer {name!r} is not supported.", ArgumentName="x-amz-trailer")
            compute.append(name[len("x-amz-checksum-"):])
    sdk = (req.header("x-amz-sdk-checksum-algorithm") or "").lower()
    if sdk:
        if sdk not in ALGORITHMS:
            raise errors.InvalidArgument(f"Checksum algorithm {sdk.upper()} is not supported.",
                                         ArgumentName="x-amz-sdk-checksum-algorithm")
        compute.append(sdk)
    return given, tuple(compute)


async def _limited(body: AsyncIterable[bytes], limit: int) -> AsyncIterator[bytes]:
    seen = 0
    async for chunk in body:
        seen += len(chunk)
        if seen > limit:
            raise errors.EntityTooLarge(f"Your proposed upload exceeds the maximum allowed size of {limit} bytes.")
        yield chunk


def incoming(req: S3Request, auth: Authorized) -> tuple[BodyDigests, AsyncIterator[bytes]]:
    """The body to store, and the digests that will check it against what the request promised."""
    payload = auth.claim.payload if auth.claim is not None else (req.header("x-amz-content-sha256") or "")
    encoding = [e.strip() for e in (req.header("content-encoding") or "").split(",") if e.strip()]
    chunked = "aws-chunked" in encoding or payload.startswith("STREAMING-")
    given, compute = _checksum_headers(req)
    if chunked:
        size = _length(req.header("x-amz-decoded-content-length"), "x-amz-decoded-content-length")
        if size is None:
            raise errors.MissingContentLength("An aws-chunked body needs x-amz-decoded-content-length.")
    else:
        size = _length(req.header("content-length"), "Content-Length")
    if size is not None and size > MAX_PUT_BYTES:
        raise errors.EntityTooLarge(f"Your proposed upload exceeds the maximum allowed size of {MAX_PUT_BYTES} bytes.")
    # the payload hash is a promise only a verified signature makes (dev mode checks neither)
    sha = payload if auth.signing_key is not None and _HEX64.match(payload) else None
    digests = BodyDigests(content_md5=req.header("content-md5"), payload_sha256=sha, checksums=given,
                          compute=compute, size=size)
    body: AsyncIterable[bytes] = req.body_chunks()
    if chunked:
        decoder = ChunkedDecoder(auth.claim if auth.signing_key is not None else None, auth.signing_key,
                                 on_trailer=lambda name, value: _trailer(digests, name, value))
        body = decoder.decode(_limited(body, MAX_PUT_BYTES + 1024 * 1024))
    return digests, _limited(body, MAX_PUT_BYTES)


def _trailer(digests: BodyDigests, name: str, value: str) -> None:
    if name.startswith("x-amz-checksum-"):
        digests.late_checksum(name[len("x-amz-checksum-"):], value)


async def small_verified_body(req: S3Request, auth: Authorized, limit: int = 1024 * 1024) -> bytes:
    """A small document body (XML), read whole and checked against the digests it came with."""
    digests, body = incoming(req, auth)
    parts, size = [], 0
    async for chunk in body:
        size += len(chunk)
        if size > limit:
            raise errors.MalformedXML(f"The request document is larger than {limit} bytes.")
        parts.append(chunk)
    data = b"".join(parts)
    digests.update(data)
    digests.verify()
    return data
