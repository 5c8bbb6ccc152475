"""R2's embedded backend: object bytes as files under `<data_dir>/r2/blobs`, rows in SQLite (`r2.sqlite3`).

Files are named by a random id, never by the key, so no key (`../x`, NUL, 1024 bytes of anything) can reach
the file system. Every blob id is referenced by at most one row (an object or a multipart part); a copy is a
hard link under a new id. A write is durable when it returns: the bytes go to `tmp/`, are fsynced and renamed
into `blobs/` (directory fsynced), and only then is the row committed (SQLite, synchronous=FULL). A crash
leaves at worst a temporary file or a blob no row names: `start()` removes both, so nothing partial is ever
visible. A reader looks the row up and opens the file under the database lock, and a replaced or deleted
blob is unlinked only after its row is gone, so an open reader keeps its version.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterable, Callable
from pathlib import Path

from kumo.api.threads import blocking
from kumo.r2.errors import NoSuchBucket
from kumo.r2.store import (
    BucketInfo,
    HttpMetadata,
    ObjectInfo,
    ObjectMeta,
    ObjectReader,
    PartInfo,
    StagedBlob,
    UploadInfo,
)
from kumo.storage.group_commit import committer
from kumo.storage.overlap import overlapped
from kumo.storage.r2_files import BLOCK, FileReader, _BlobFile, _blocks, observing
from kumo.storage.sqlite import SqliteDatabase
from kumo.timestamps import iso_now

_HTTP_FIELDS = ("content_type", "content_language", "content_disposition", "content_encoding", "cache_control",
                "expires")
_OBJECT_COLUMNS = "key, blob, size, etag, uploaded, checksums, " + ", ".join(_HTTP_FIELDS) + \
    ", custom_metadata, storage_class"
# an object written again keeps its row (upsert, which SQLite and PostgreSQL both take)
_OBJECT_UPDATES = ", ".join(f"{c} = excluded.{c}" for c in (c.strip() for c in _OBJECT_COLUMNS.split(",")) if c != "key")



def _meta_values(meta: ObjectMeta) -> tuple:
    return (*(getattr(meta.http, name) for name in _HTTP_FIELDS), json.dumps(meta.custom), meta.storage_class)


def _meta_from(row: tuple) -> ObjectMeta:
    http = HttpMetadata(**dict(zip(_HTTP_FIELDS, row[:6])))
    return ObjectMeta(http=http, custom=json.loads(row[6]), storage_class=row[7])


def _object(bucket: str, row: tuple) -> ObjectInfo:
    key, blob, size, etag, uploaded, checksums = row[:6]
    return ObjectInfo(bucket=bucket, key=bytes(key).decode(), size=size, etag=etag, uploaded=uploaded,
                      meta=_meta_from(row[6:]), checksums=json.loads(checksums), version=blob)


def _prefix_bounds(prefix: str, after: bytes) -> tuple[str, list]:
    """SQL and parameters for `key > after AND key starts with prefix`, as an index range."""
    low = prefix.encode()
    sql, params = " AND key > ?", [after]
    if low:
        # UTF-8 never has a 0xff byte: every key starting with `low` is below `low + ff`
        sql += " AND key >= ? AND key < ?"
        params += [low, low + b"\xff"]
    return sql, params


class EmbeddedObjectStore:
    def __init__(self, root: Path, database_path: Path):
        self.root = root
        self.blobs = root / "blobs"
        self.tmp = root / "tmp"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.db = SqliteDatabase(database_path, branch="r2")
        self.writes = committer(self.db)  # concurrent object writes share a commit (and its fsync)

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Remove what a crash left: temporary files, and blobs that no row names (a crash between a blob's
        rename and its row's commit). Blobs younger than this start are kept: a write may be finishing."""
        started = time.time() - 1
        for leftover in self.tmp.iterdir():
            leftover.unlink(missing_ok=True)
        for shard in sorted(self.blobs.iterdir()):
            names = {p.name for p in shard.iterdir()}
            if not names:
                continue
            low, high = shard.name, shard.name + "\uffff"
            with self.db.reading() as conn:
                known = {r[0] for r in conn.execute(
                    "SELECT blob FROM r2_objects WHERE blob >= ? AND blob < ? "
                    "UNION ALL SELECT blob FROM r2_parts WHERE blob >= ? AND blob < ?", (low, high, low, high))}
            for name in names - known:
                path = shard / name
                try:
                    if path.stat().st_mtime < started:
                        path.unlink()
                except FileNotFoundError:
                    pass

    def close(self) -> None:
        self.db.close()

    # -- blobs ----------------------------------------------------------------------------------------------------

    def _blob_path(self, ref: str) -> Path:
        return self.blobs / ref[:2] / ref

    def _publish(self, temp: Path, ref: str) -> None:
        """Move a fsynced temporary file into place, durably."""
        shard = self.blobs / ref[:2]
        shard.mkdir(exist_ok=True)
        os.rename(temp, shard / ref)
        fd = os.open(shard, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _unlink(self, refs) -> None:
        for ref in refs:
            if ref:
                self._blob_path(ref).unlink(missing_ok=True)

    async def stage(self, body: AsyncIterable[bytes], observe: Callable[[bytes], None] | None = None) -> StagedBlob:
        ref = uuid.uuid4().hex
        blob = _BlobFile(self.tmp / ref)
        works = (blob.keep,) if observe is None else (blob.keep, observing(observe))

        def finish() -> None:
            blob.finish()
            self._publish(blob.path, ref)

        try:
            # a block is written and hashed, each in its own thread, while the next one arrives
            await overlapped(_blocks(body), *works)
            await blocking(finish)
        except BaseException:
            await asyncio.shield(blocking(blob.abandon))
            raise
        return StagedBlob(ref=ref, size=blob.size, md5="")

    async def discard(self, ref: str) -> None:
        await blocking(self._unlink, [ref])

    # -- buckets --------------------------------------------------------------------------------------------------

    async def create_bucket(self, account: str, name: str, location: str, storage_class: str) -> BucketInfo | None:
        def create() -> BucketInfo | None:
            created = iso_now()
            with self.db.transaction() as conn:
                cursor = conn.execute(
                    "INSERT INTO r2_buckets (account, name, location, storage_class, created) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT DO NOTHING", (account, name, location, storage_class, created))
                if cursor.rowcount == 0:
                    return None
            return BucketInfo(account, name, created, location, storage_class)

        return await blocking(create)

    async def get_bucket(self, account: str, name: str) -> BucketInfo | None:
        def get() -> BucketInfo | None:
            with self.db.reading() as conn:
                row = conn.execute("SELECT location, storage_class, created FROM r2_buckets WHERE account = ? "
                                   "AND name = ?", (account, name)).fetchone()
            return BucketInfo(account, name, row[2], row[0], row[1]) if row else None

        return await blocking(get)

    async def list_buckets(self, account: str) -> list[BucketInfo]:
        def listing() -> list[BucketInfo]:
            with self.db.reading() as conn:
                rows = conn.execute("SELECT name, location, storage_class, created FROM r2_buckets WHERE account = ?"
                                    " ORDER BY name", (account,)).fetchall()
            return [BucketInfo(account, r[0], r[3], r[1], r[2]) for r in rows]

        return await blocking(listing)

    async def delete_bucket(self, bucket: BucketInfo) -> bool:
        def delete() -> bool:
            where = (bucket.account, bucket.name)
            with self.db.transaction() as conn:
                if conn.execute("SELECT 1 FROM r2_objects WHERE account = ? AND bucket = ? LIMIT 1", where).fetchone():
                    return False
                parts = [r[0] for r in conn.execute(
                    "SELECT p.blob FROM r2_parts p JOIN r2_uploads u USING (upload_id) WHERE u.account = ? "
                    "AND u.bucket = ?", where)]
                conn.execute("DELETE FROM r2_uploads WHERE account = ? AND bucket = ?", where)
                conn.execute("DELETE FROM r2_buckets WHERE account = ? AND name = ?", where)
            self._unlink(parts)
            return True

        return await blocking(delete)

    # -- objects --------------------------------------------------------------------------------------------------

    async def commit_object(self, bucket: BucketInfo, key: str, blob: StagedBlob, meta: ObjectMeta,
                            etag: str, checksums: dict[str, str]) -> ObjectInfo:
        def write(conn) -> tuple[ObjectInfo, tuple | None]:
            old = conn.execute("SELECT blob FROM r2_objects WHERE account = ? AND bucket = ? AND key = ?",
                               (bucket.account, bucket.name, key.encode())).fetchone()
            return self._insert_object(conn, bucket, key, blob.ref, blob.size, etag, meta, checksums), old

        def commit() -> ObjectInfo:
            try:
                info, old = self.writes.run(write)
            except NoSuchBucket:
                self._unlink([blob.ref])
                raise
            if old:
                self._unlink([old[0]])
            return info

        return await blocking(commit)

    @staticmethod
    def _insert_object(conn, bucket: BucketInfo, key: str, ref: str, size: int, etag: str, meta: ObjectMeta,
                       checksums: dict[str, str]) -> ObjectInfo:
        """The row, in the caller's transaction; NoSuchBucket if the bucket went away (the caller's
        transaction then rolls back and the caller drops the blob)."""
        if not conn.execute("SELECT 1 FROM r2_buckets WHERE account = ? AND name = ?",
                            (bucket.account, bucket.name)).fetchone():
            raise NoSuchBucket("The specified bucket does not exist.", BucketName=bucket.name)
        uploaded = iso_now()
        row = (bucket.account, bucket.name, key.encode(), ref, size, etag, uploaded, json.dumps(checksums),
               *_meta_values(meta))
        conn.execute(f"INSERT INTO r2_objects (account, bucket, {_OBJECT_COLUMNS}) "
                     f"VALUES ({', '.join('?' * len(row))}) "
                     f"ON CONFLICT (account, bucket, key) DO UPDATE SET {_OBJECT_UPDATES}", row)
        return ObjectInfo(bucket.name, key, size, etag, uploaded, meta, checksums, ref)

    def _replace_object(self, bucket: BucketInfo, key: str, ref: str, source: ObjectInfo,
                        meta: ObjectMeta) -> ObjectInfo:
        """A copy's row: `ref` (a blob of the source's bytes, already made) under `key`; the blob it replaces
        is dropped after the commit, `ref` itself if the commit fails."""
        try:
            with self.db.transaction() as conn:
                old = conn.execute("SELECT blob FROM r2_objects WHERE account = ? AND bucket = ? AND key = ?",
                                   (bucket.account, bucket.name, key.encode())).fetchone()
                info = self._insert_object(conn, bucket, key, ref, source.size, source.etag, meta, source.checksums)
        except BaseException:
            self._unlink([ref])
            raise
        if old:
            self._unlink([old[0]])
        return info

    def _lookup(self, conn, bucket: BucketInfo, key: str) -> tuple | None:
        return conn.execute(f"SELECT {_OBJECT_COLUMNS} FROM r2_objects WHERE account = ? AND bucket = ? AND key = ?",
                            (bucket.account, bucket.name, key.encode())).fetchone()

    async def head_object(self, bucket: BucketInfo, key: str) -> ObjectInfo | None:
        def head() -> ObjectInfo | None:
            with self.db.reading() as conn:
                row = self._lookup(conn, bucket, key)
            return _object(bucket.name, row) if row else None

        return await blocking(head)

    async def open_object(self, bucket: BucketInfo, key: str, start: int = 0,
                          end: int | None = None) -> ObjectReader | None:
        def open_() -> FileReader | None:
            with self.db.reading() as conn:  # the row and its file together: a replacement unlinks after commit
                row = self._lookup(conn, bucket, key)
                if row is None:
                    return None
                file = open(self._blob_path(row[1]), "rb")
            info = _object(bucket.name, row)
            reader = FileReader(info, file, start, info.size if end is None else min(end, info.size))
            try:
                reader.prefetch()
            except BaseException:
                file.close()
                raise
            return reader

        return await blocking(open_)

    async def delete_object(self, bucket: BucketInfo, key: str) -> bool:
        def delete() -> bool:
            row = self.writes.run(lambda conn: conn.execute(
                "DELETE FROM r2_objects WHERE account = ? AND bucket = ? AND key = ? RETURNING blob",
                (bucket.account, bucket.name, key.encode())).fetchone())
            if row:
                self._unlink([row[0]])
            return row is not None

        return await blocking(delete)

    async def list_objects(self, bucket: BucketInfo, prefix: str, after: bytes, limit: int) -> list[ObjectInfo]:
        def listing() -> list[ObjectInfo]:
            bounds, params = _prefix_bounds(prefix, after)
            with self.db.reading() as conn:
                rows = conn.execute(f"SELECT {_OBJECT_COLUMNS} FROM r2_objects WHERE account = ? AND bucket = ?"
                                    f"{bounds} ORDER BY key LIMIT ?",
                                    (bucket.account, bucket.name, *params, limit)).fetchall()
            return [_object(bucket.name, r) for r in rows]

        return await blocking(listing)

    async def copy_object(self, source: ObjectInfo, source_bucket: BucketInfo, bucket: BucketInfo, key: str,
                          meta: ObjectMeta) -> ObjectInfo | None:
        def copy() -> ObjectInfo | None:
            ref = uuid.uuid4().hex
            with self.db.reading() as conn:  # the source row and its file together, as a reader does
                row = self._lookup(conn, source_bucket, source.key)
                if row is None:
                    return None
                shard = self.blobs / ref[:2]
                shard.mkdir(exist_ok=True)
                os.link(self._blob_path(row[1]), shard / ref)  # same bytes, its own name: deletions stay apart
            return self._replace_object(bucket, key, ref, _object(source_bucket.name, row), meta)

        return await blocking(copy)

    # -- multipart uploads ----------------------------------------------------------------------------------------

    async def create_upload(self, bucket: BucketInfo, key: str, meta: ObjectMeta,
                            checksum_algorithm: str | None) -> UploadInfo:
        def create() -> UploadInfo:
            upload = UploadInfo(uuid.uuid4().hex, bucket.name, key, iso_now(), meta, checksum_algorithm)
            row = (upload.upload_id, bucket.account, bucket.name, key.encode(), upload.initiated, checksum_algorithm,
                   *_meta_values(meta))
            with self.db.transaction() as conn:
                conn.execute("INSERT INTO r2_uploads (upload_id, account, bucket, key, initiated, checksum_algorithm, "
                             f"{', '.join(_HTTP_FIELDS)}, custom_metadata, storage_class) "
                             f"VALUES ({', '.join('?' * len(row))})", row)
            return upload

        return await blocking(create)

    _UPLOAD_COLUMNS = "upload_id, key, initiated, checksum_algorithm, " + ", ".join(_HTTP_FIELDS) + \
        ", custom_metadata, storage_class"

    @staticmethod
    def _upload(bucket: str, row: tuple) -> UploadInfo:
        return UploadInfo(row[0], bucket, bytes(row[1]).decode(), row[2], _meta_from(row[4:]), row[3])

    async def get_upload(self, bucket: BucketInfo, upload_id: str) -> UploadInfo | None:
        def get() -> UploadInfo | None:
            with self.db.reading() as conn:
                row = conn.execute(f"SELECT {self._UPLOAD_COLUMNS} FROM r2_uploads WHERE upload_id = ? AND "
                                   "account = ? AND bucket = ?", (upload_id, bucket.account, bucket.name)).fetchone()
            return self._upload(bucket.name, row) if row else None

        return await blocking(get)

    async def list_uploads(self, bucket: BucketInfo, prefix: str, after: bytes, limit: int) -> list[UploadInfo]:
        def listing() -> list[UploadInfo]:
            bounds, params = _prefix_bounds(prefix, after)
            with self.db.reading() as conn:
                rows = conn.execute(f"SELECT {self._UPLOAD_COLUMNS} FROM r2_uploads WHERE account = ? AND bucket = ?"
                                    f"{bounds} ORDER BY key, initiated LIMIT ?",
                                    (bucket.account, bucket.name, *params, limit)).fetchall()
            return [self._upload(bucket.name, r) for r in rows]

        return await blocking(listing)

    async def put_part(self, upload: UploadInfo, number: int, blob: StagedBlob) -> PartInfo | None:
        part = PartInfo(number, blob.size, blob.md5, iso_now(), blob.checksums, blob.ref)

        def write(conn) -> tuple[bool, tuple | None]:
            if not conn.execute("SELECT 1 FROM r2_uploads WHERE upload_id = ?", (upload.upload_id,)).fetchone():
                return False, None
            old = conn.execute("SELECT blob FROM r2_parts WHERE upload_id = ? AND number = ?",
                               (upload.upload_id, number)).fetchone()
            # an upsert both SQLite and PostgreSQL take: the engine store (rows in PostgreSQL) runs this too
            conn.execute("INSERT INTO r2_parts (upload_id, number, blob, size, etag, uploaded, checksums) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (upload_id, number) DO UPDATE SET "
                         "blob = excluded.blob, size = excluded.size, etag = excluded.etag, "
                         "uploaded = excluded.uploaded, checksums = excluded.checksums",
                         (upload.upload_id, number, blob.ref, blob.size, blob.md5, part.uploaded,
                          json.dumps(blob.checksums)))
            return True, old

        def put() -> PartInfo | None:
            kept, old = self.writes.run(write)
            if not kept:
                return None
            if old:
                self._unlink([old[0]])
            return part

        return await blocking(put)

    async def list_parts(self, upload: UploadInfo) -> list[PartInfo]:
        def listing() -> list[PartInfo]:
            with self.db.reading() as conn:
                rows = conn.execute("SELECT number, size, etag, uploaded, checksums, blob FROM r2_parts "
                                    "WHERE upload_id = ? ORDER BY number", (upload.upload_id,)).fetchall()
            return [PartInfo(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in rows]

        return await blocking(listing)

    def _join(self, parts: list[PartInfo]) -> str:
        """Concatenate the parts' files into one new blob (kernel-side copies), durably; its ref."""
        ref = uuid.uuid4().hex
        temp = self.tmp / ref
        try:
            with open(temp, "wb") as out:
                for part in parts:
                    with open(self._blob_path(part.ref), "rb") as source:
                        shutil.copyfileobj(source, out, BLOCK)
                out.flush()
                os.fsync(out.fileno())
            self._publish(temp, ref)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return ref

    async def complete_upload(self, bucket: BucketInfo, upload: UploadInfo, parts: list[PartInfo],
                              etag: str) -> ObjectInfo | None:
        def complete() -> ObjectInfo | None:
            info, garbage = self._commit_upload(bucket, upload, self._join(parts), sum(p.size for p in parts), etag)
            self._unlink(garbage)
            return info

        return await blocking(complete)

    def _commit_upload(self, bucket: BucketInfo, upload: UploadInfo, ref: str, size: int,
                       etag: str) -> tuple[ObjectInfo | None, list[str]]:
        """The joined blob `ref` becomes the object and the upload ends, in one transaction; with the blobs to
        drop after it (the parts and a replaced object's, or `ref` itself if the upload is gone)."""
        with self.db.transaction() as conn:
            if not conn.execute("SELECT 1 FROM r2_uploads WHERE upload_id = ?", (upload.upload_id,)).fetchone():
                return None, [ref]  # aborted meanwhile (deleting the bucket aborts its uploads too)
            old = conn.execute("SELECT blob FROM r2_objects WHERE account = ? AND bucket = ? AND key = ?",
                               (bucket.account, bucket.name, upload.key.encode())).fetchone()
            leftovers = [r[0] for r in conn.execute("SELECT blob FROM r2_parts WHERE upload_id = ?",
                                                    (upload.upload_id,))]
            info = self._insert_object(conn, bucket, upload.key, ref, size, etag, upload.meta, {})
            conn.execute("DELETE FROM r2_uploads WHERE upload_id = ?", (upload.upload_id,))
        return info, leftovers + ([old[0]] if old else [])

    async def abort_upload(self, bucket: BucketInfo, upload: UploadInfo) -> bool:
        def abort() -> bool:
            with self.db.transaction() as conn:
                blobs = [r[0] for r in conn.execute("SELECT blob FROM r2_parts WHERE upload_id = ?",
                                                    (upload.upload_id,))]
                gone = conn.execute("DELETE FROM r2_uploads WHERE upload_id = ?", (upload.upload_id,)).rowcount
            self._unlink(blobs)
            return bool(gone)

        return await blocking(abort)
