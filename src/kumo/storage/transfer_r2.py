"""Moving an embedded data dir's R2 objects to the scaled-out backend (part of `kumo migrate --from --to`).

Every blob file (an object's bytes or a multipart part's) is uploaded to the engine under the name the engine
backend gives that blob id (`blobs/<id>`), then the rows are copied as they are into the caller's PostgreSQL
transaction. Bytes go first: if the copy stops before the commit, the engine holds objects no row names, which
the engine backend removes when it starts; the PostgreSQL side holds nothing and the move can be run again.
Uploads stream from the files (boto3's managed transfer), so a large object is never held in memory.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from kumo.errors import InvalidRequest
from kumo.storage.r2_s3engine import EngineConfig, engine_client, engine_name, ensure_bucket

R2_FILE = "r2.sqlite3"
R2_TABLES = ("r2_buckets", "r2_objects", "r2_uploads", "r2_parts")  # a row's parent before it
PART_SIZE = 8 * 1024 * 1024


def r2_blobs(data_dir: Path) -> list[str]:
    """The blob id of every object and part the data dir's rows name."""
    path = data_dir / R2_FILE
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT blob FROM r2_objects UNION ALL SELECT blob FROM r2_parts")]
    finally:
        conn.close()


def upload_blobs(data_dir: Path, config: EngineConfig, progress: Callable[[str, int, int], None]) -> int:
    """Upload every blob the rows name into the engine; the number uploaded."""
    from boto3.s3.transfer import TransferConfig
    from botocore.exceptions import BotoCoreError, ClientError

    blobs = r2_blobs(data_dir)
    client = engine_client(config)
    try:
        ensure_bucket(client, config)
        transfer = TransferConfig(multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE)
        for done, ref in enumerate(blobs, start=1):
            path = data_dir / "r2" / "blobs" / ref[:2] / ref
            if not path.is_file():
                raise InvalidRequest(f"the data dir's R2 rows name a blob that is missing: {path}")
            try:
                client.upload_file(str(path), config.bucket, engine_name(ref), Config=transfer)
            except (BotoCoreError, ClientError) as exc:
                raise InvalidRequest(f"the R2 engine at {config.url} failed an upload: {exc}") from None
            progress("r2 object bytes", done, len(blobs))
    finally:
        client.close()
    return len(blobs)
