"""Digests of a body as it streams: MD5 (the ETag), the payload SHA-256 a signature may promise, and the
checksums S3 clients send (CRC32, CRC32C, SHA-1, SHA-256; CRC64NVME is refused by name)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
import crc32c as _crc32c

from kumo.r2 import errors

ALGORITHMS = ("crc32", "crc32c", "sha1", "sha256")


class _Crc:
    def __init__(self, fn):
        self._fn = fn
        self._value = 0

    def update(self, data: bytes) -> None:
        self._value = self._fn(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")


def new_checksum(algorithm: str):
    if algorithm == "crc32":
        return _Crc(zlib.crc32)
    if algorithm == "crc32c":
        return _Crc(_crc32c.crc32c)
    if algorithm in ("sha1", "sha256"):
        return hashlib.new(algorithm)
    raise errors.InvalidArgument(f"checksum algorithm {algorithm!r} is not supported; use one of "
                                 f"{', '.join(a.upper() for a in ALGORITHMS)}")


def checksum_of(algorithm: str, data: bytes) -> str:
    h = new_checksum(algorithm)
    h.update(data)
    return base64.b64encode(h.digest()).decode()


class BodyDigests:
    """Everything computed over one body, and what the request promised about it."""

    def __init__(self, *, content_md5: str | None = None, payload_sha256: str | None = None,
                 checksums: dict[str, str] | None = None, compute: tuple[str, ...] = (),
                 size: int | None = None):
        self.size = 0
        self.expected_size = size
        self._md5 = hashlib.md5()
        self._content_md5 = content_md5
        self._sha = hashlib.sha256() if payload_sha256 else None
        self._payload_sha256 = payload_sha256
        self.expected = dict(checksums or {})
        self._checksums = {a: new_checksum(a) for a in {*self.expected, *compute}}
        if content_md5 is not None:
            try:
                if len(base64.b64decode(content_md5, validate=True)) != 16:
                    raise ValueError
            except (binascii.Error, ValueError):
                raise errors.InvalidDigest("The Content-MD5 you specified is not valid.") from None

    def update(self, block: bytes) -> None:
        self.size += len(block)
        self._md5.update(block)
        if self._sha is not None:
            self._sha.update(block)
        for h in self._checksums.values():
            h.update(block)

    def late_checksum(self, algorithm: str, value: str) -> None:
        """A checksum that arrived in an aws-chunked trailer, after the body; it must have been announced."""
        if algorithm not in self._checksums:
            raise errors.InvalidRequest(f"the trailer x-amz-checksum-{algorithm} was not announced in "
                                        "x-amz-trailer")
        self.expected[algorithm] = value

    @property
    def md5_hex(self) -> str:
        return self._md5.hexdigest()

    def verify(self) -> dict[str, str]:
        """Raise the S3 error for the first promise the body broke; else the checksums (base64) computed."""
        if self.expected_size is not None and self.size != self.expected_size:
            raise errors.IncompleteBody("You did not provide the number of bytes specified by the "
                                        "Content-Length HTTP header.")
        if self._sha is not None and self._sha.hexdigest() != self._payload_sha256:
            raise errors.ContentSha256Mismatch("The provided 'x-amz-content-sha256' header does not match what "
                                               "was computed.")
        if self._content_md5 is not None and \
                base64.b64encode(self._md5.digest()).decode() != self._content_md5:
            raise errors.BadDigest("The Content-MD5 you specified did not match what we received.")
        computed = {a: base64.b64encode(h.digest()).decode() for a, h in self._checksums.items()}
        for algorithm, value in self.expected.items():
            if computed[algorithm] != value:
                raise errors.BadDigest(f"The {algorithm.upper()} you specified did not match the calculated "
                                       "checksum.")
        return computed
