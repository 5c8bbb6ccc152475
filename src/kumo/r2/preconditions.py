"""R2's read and write preconditions (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, and the
binding's onlyIf) and byte ranges, as RFC 9110 and S3 define them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from kumo.r2 import errors
from kumo.r2.store import ObjectInfo
from kumo.timestamps import parse_iso


@dataclass(frozen=True)
class Conditions:
    """HTTP preconditions (If-Match, If-None-Match: lists of ETags without quotes or "*"; the dates parsed)."""

    if_match: tuple[str, ...] | None = None
    if_none_match: tuple[str, ...] | None = None
    if_modified_since: datetime | None = None
    if_unmodified_since: datetime | None = None

    @classmethod
    def from_headers(cls, get, prefix: str = "") -> Conditions:
        """From request headers (`get(name)`); `prefix` "x-amz-copy-source-" reads CopyObject's."""
        def tags(name: str) -> tuple[str, ...] | None:
            value = get(prefix + name)
            if value is None:
                return None
            return tuple(t.strip().removeprefix("W/").strip('"') for t in value.split(",") if t.strip())

        def date(name: str) -> datetime | None:
            value = get(prefix + name)
            if not value:
                return None
            try:
                return parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None  # RFC 9110: an invalid date is ignored

        return cls(tags("if-match"), tags("if-none-match"), date("if-modified-since"), date("if-unmodified-since"))

    def check(self, info: ObjectInfo, reading: bool = True) -> None:
        """Raise PreconditionFailed (412) or, for reads, NotModified (304), as RFC 9110 orders them."""
        modified = parse_iso(info.uploaded).replace(microsecond=0)
        if self.if_match is not None:
            if "*" not in self.if_match and info.etag not in self.if_match:
                raise errors.PreconditionFailed("At least one of the pre-conditions you specified did not hold",
                                                Condition="If-Match")
        elif self.if_unmodified_since is not None and modified > self.if_unmodified_since:
            raise errors.PreconditionFailed("At least one of the pre-conditions you specified did not hold",
                                            Condition="If-Unmodified-Since")
        if self.if_none_match is not None:
            if "*" in self.if_none_match or info.etag in self.if_none_match:
                if reading:
                    raise errors.NotModified("Not Modified")
                raise errors.PreconditionFailed("At least one of the pre-conditions you specified did not hold",
                                                Condition="If-None-Match")
        elif self.if_modified_since is not None and modified <= self.if_modified_since and reading:
            raise errors.NotModified("Not Modified")


@dataclass(frozen=True)
class ByteRange:
    """A resolved range: bytes [start, end) of an object of `size` bytes."""

    start: int
    end: int
    size: int

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end - 1}/{self.size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """`Range: bytes=a-b | a- | -n` against an object of `size` bytes. None: serve the whole object (no
    header, or one S3 ignores such as several ranges); InvalidRange when nothing of it can be served."""
    if not header:
        return None
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if not match or (not match[1] and not match[2]):
        return None
    if match[1]:
        start = int(match[1])
        end = min(int(match[2]) + 1, size) if match[2] else size
        if match[2] and int(match[2]) < start:
            return None  # syntactically invalid: ignored
        if start >= size:
            raise errors.InvalidRange("The requested range is not satisfiable", RangeRequested=header,
                                      ActualObjectSize=str(size))
        return ByteRange(start, end, size)
    suffix = int(match[2])
    if suffix == 0 or size == 0:
        raise errors.InvalidRange("The requested range is not satisfiable", RangeRequested=header,
                                  ActualObjectSize=str(size))
    return ByteRange(max(size - suffix, 0), size, size)
