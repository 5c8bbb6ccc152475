"""The object keys of a scoring job: its input and output (`r2://BUCKET/KEY`, checked when it is submitted), and
the part objects written beside the output, one per chunk, until the output is composed from them. A part's key
is the output's plus a suffix, so an output key must leave room for it within R2's key limit."""

from __future__ import annotations

import uuid
from typing import Any

from kumo.errors import InvalidRequest
from kumo.r2.service import BUCKET_NAME, MAX_KEY_BYTES

PART_EXTENSIONS = {"parquet": ".parquet", "csv": ".csv", "jsonl": ".jsonl"}
PART_INDEX_DIGITS = 6  # a chunk's index in a part key: zero-padded, so parts list in chunk order


def new_job_id() -> str:
    return uuid.uuid4().hex


def parts_prefix(output_key: str, job_id: str) -> str:
    """Where a job's part objects live until the output is composed (beside the output, in its bucket)."""
    return f"{output_key}.kumo-parts/{job_id}/"


def part_key(output_key: str, job_id: str, idx: int, fmt: str) -> str:
    """A new key per attempt at a chunk: a worker that lost its lease never overwrites the part that was
    recorded."""
    return f"{parts_prefix(output_key, job_id)}{idx:0{PART_INDEX_DIGITS}d}-{uuid.uuid4().hex[:8]}{PART_EXTENSIONS[fmt]}"


# the longest part suffix there is: the longest job id, chunk index and extension
MAX_OUTPUT_KEY_BYTES = MAX_KEY_BYTES - max(
    len(part_key("", new_job_id(), 10 ** PART_INDEX_DIGITS - 1, fmt).encode()) for fmt in PART_EXTENSIONS)


def r2_location(value: Any, what: str) -> tuple[str, str]:
    """`r2://BUCKET/KEY` -> (bucket, key), both valid R2 names; an output's key leaves room for its parts'.
    Refusals name `what` (input or output)."""
    if not isinstance(value, str) or not value.startswith("r2://") or "/" not in value[5:]:
        raise InvalidRequest(f"{what} {value!r}: give it as r2://BUCKET/KEY", code=10040)
    bucket, key = value[5:].split("/", 1)
    if not BUCKET_NAME.fullmatch(bucket) or not key:
        raise InvalidRequest(f"{what} {value!r}: give it as r2://BUCKET/KEY (a bucket name is 3-63 lowercase "
                             "letters, digits and '-')", code=10040)
    _check_key(key, what)
    return bucket, key


def _check_key(key: str, what: str) -> None:
    # the key is not echoed back: it may be kilobytes long, or hold what a terminal should not print
    try:
        size = len(key.encode())
    except UnicodeEncodeError:  # a lone surrogate, which JSON's \ud800 escapes can carry
        raise InvalidRequest(f"{what}: the object key is not valid UTF-8", code=10040) from None
    if "\x00" in key:  # other control characters are valid key characters, as on R2
        raise InvalidRequest(f"{what}: the object key holds a NUL character, which an object key may not",
                             code=10040)
    if size > MAX_KEY_BYTES:
        raise InvalidRequest(f"{what}: the object key is {size} bytes (UTF-8); R2 allows at most {MAX_KEY_BYTES}",
                             code=10040)
    if what == "output" and size > MAX_OUTPUT_KEY_BYTES:
        raise InvalidRequest(f"output: the object key is {size} bytes (UTF-8); a scoring job's output key may be at "
                             f"most {MAX_OUTPUT_KEY_BYTES}, so that its parts (KEY.kumo-parts/JOB/CHUNK-ATTEMPT.EXT, "
                             f"written beside it) fit R2's {MAX_KEY_BYTES}", code=10040)
