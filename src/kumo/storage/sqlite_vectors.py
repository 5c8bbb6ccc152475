"""Vectorize state in SQLite: indexes, vectors (values as float32 blobs, metadata as JSON) and
metadata indexes. Every mutation bumps the index's `seq` and records its mutation id in the same
transaction as the data, so `info` never runs ahead of (or behind) what is stored."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from kumo.storage.sqlite import SqliteDatabase
from kumo.vectorize.store import IndexRecord, MetadataIndexRecord, Mutation, StoredVector

_INDEX_COLUMNS = (
    "pk, account, name, description, dimensions, metric, preset, created_on, modified_on, "
    "mutation_id, mutation_at, seq"
)


def _record(row: tuple) -> IndexRecord:
    return IndexRecord(*row)


def _vector(row: tuple) -> StoredVector:
    vid, namespace, vals, metadata, seq = row
    return StoredVector(vid, namespace, vals, json.loads(metadata) if metadata else None, seq)


class SqliteVectorStore:
    def __init__(self, path: Path):
        self.db = SqliteDatabase(path, branch="vectorize")
        # index pk -> (its seq, its vector count then): every write bumps seq, so a count is good until it
        # moves; listing a million vectors a page at a time counted them all on every page
        self._counts: dict[int, tuple[int, int]] = {}

    # ---- indexes --------------------------------------------------------------------------
    def create_index(self, account, name, description, dimensions, metric, preset, now):
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO vectorize_indexes (account, name, description, dimensions, metric, preset,"
                " created_on, modified_on) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (account, name, description, dimensions, metric, preset, now, now),
            )
            if cur.rowcount == 0:
                return None
            row = conn.execute(
                f"SELECT {_INDEX_COLUMNS} FROM vectorize_indexes WHERE pk = ?", (cur.lastrowid,)
            ).fetchone()
        return _record(row)

    def get_index(self, account, name):
        with self.db.reading() as conn:
            row = conn.execute(
                f"SELECT {_INDEX_COLUMNS} FROM vectorize_indexes WHERE account = ? AND name = ?",
                (account, name),
            ).fetchone()
        return _record(row) if row else None

    def list_indexes(self, account):
        with self.db.reading() as conn:
            rows = conn.execute(
                f"SELECT {_INDEX_COLUMNS} FROM vectorize_indexes WHERE account = ? ORDER BY created_on, pk",
                (account,),
            ).fetchall()
        return [_record(r) for r in rows]

    def delete_index(self, pk):
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM vectorize_indexes WHERE pk = ?", (pk,))
        self._counts.pop(pk, None)

    # ---- vectors --------------------------------------------------------------------------
    def _bump(self, conn, pk: int, mutation: Mutation) -> int:
        conn.execute(
            "UPDATE vectorize_indexes SET seq = seq + 1, mutation_id = ?, mutation_at = ? WHERE pk = ?",
            (mutation.id, mutation.at, pk),
        )
        return conn.execute("SELECT seq FROM vectorize_indexes WHERE pk = ?", (pk,)).fetchone()[0]

    def write_vectors(self, pk, vectors, mutation):
        """Insert or replace whole vectors; the caller has already dropped the ids `insert` keeps."""
        with self.db.transaction() as conn:
            seq = self._bump(conn, pk, mutation)
            conn.executemany(
                "INSERT OR REPLACE INTO vectorize_vectors (index_pk, id, namespace, vals, metadata, seq)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        pk,
                        v.id,
                        v.namespace,
                        v.values,
                        json.dumps(v.metadata, separators=(",", ":")) if v.metadata is not None else None,
                        seq,
                    )
                    for v in vectors
                ],
            )
        return seq

    def delete_vectors(self, pk, ids, mutation):
        with self.db.transaction() as conn:
            seq = self._bump(conn, pk, mutation)
            conn.executemany(
                "DELETE FROM vectorize_vectors WHERE index_pk = ? AND id = ?", [(pk, i) for i in ids]
            )
        return seq

    def get_vectors(self, pk, ids):
        found: dict[str, StoredVector] = {}
        with self.db.reading() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for row in conn.execute(
                    "SELECT id, namespace, vals, metadata, seq FROM vectorize_vectors"
                    f" WHERE index_pk = ? AND id IN ({marks})",
                    (pk, *chunk),
                ):
                    found[row[0]] = _vector(row)
        return [found[i] for i in dict.fromkeys(ids) if i in found]

    def iter_vectors(self, pk) -> Iterator[StoredVector]:
        # A dedicated connection: a long scan at start-up must not hold the store's lock.
        conn = sqlite3.connect(self.db.path)
        try:
            cursor = conn.execute(
                "SELECT id, namespace, vals, metadata, seq FROM vectorize_vectors WHERE index_pk = ?"
                " ORDER BY seq, id",
                (pk,),
            )
            for row in cursor:
                yield _vector(row)
        finally:
            conn.close()

    def count_vectors(self, pk):
        with self.db.reading() as conn:
            row = conn.execute("SELECT seq FROM vectorize_indexes WHERE pk = ?", (pk,)).fetchone()
            if row is None:
                return 0
            known = self._counts.get(pk)
            if known is not None and known[0] == row[0]:
                return known[1]
            count = conn.execute("SELECT count(*) FROM vectorize_vectors WHERE index_pk = ?", (pk,)).fetchone()[0]
            self._counts[pk] = (row[0], count)
            return count

    def list_ids(self, pk, after, count):
        with self.db.reading() as conn:
            total = self.count_vectors(pk)
            rows = conn.execute(
                "SELECT id FROM vectorize_vectors WHERE index_pk = ? AND id > ? ORDER BY id LIMIT ?",
                (pk, after or "", count),
            ).fetchall()
        return [r[0] for r in rows], total

    # ---- metadata indexes -----------------------------------------------------------------
    def metadata_indexes(self, pk):
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT property_name, index_type, created_seq FROM vectorize_metadata_indexes"
                " WHERE index_pk = ? ORDER BY property_name",
                (pk,),
            ).fetchall()
        return [MetadataIndexRecord(*r) for r in rows]

    def create_metadata_index(self, pk, property_name, index_type, mutation):
        with self.db.transaction() as conn:
            seq = self._bump(conn, pk, mutation)
            conn.execute(
                "INSERT INTO vectorize_metadata_indexes (index_pk, property_name, index_type, created_seq)"
                " VALUES (?, ?, ?, ?)",
                (pk, property_name, index_type, seq),
            )
        return seq

    def delete_metadata_index(self, pk, property_name, mutation):
        with self.db.transaction() as conn:
            cur = conn.execute(
                "DELETE FROM vectorize_metadata_indexes WHERE index_pk = ? AND property_name = ?",
                (pk, property_name),
            )
            if cur.rowcount == 0:
                return 0
            return self._bump(conn, pk, mutation)

    def close(self):
        self.db.close()
