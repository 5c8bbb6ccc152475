"""Moving an embedded data dir's state into PostgreSQL (`kumo migrate --from DATA_DIR --to URL`): for the user
who outgrows one machine. Rows are copied as they are (ids, sequence numbers and timestamps kept), in one
PostgreSQL transaction, so an interrupted copy leaves nothing behind and can simply be run again. The target
must hold no kumo state yet: merging two histories is not something to guess at.

Vectorize indexes go through the pgvector store (each gets its metadata indexes as SQL indexes, and its HNSW
graph built once over all its vectors, which go in by binary COPY); vectors keep their sequence numbers, so
a vector written before a metadata index existed is still not filterable on it, as before the move.

R2 objects move only when an engine is configured (`r2_engine_*` settings): their bytes are uploaded to it
(kumo.storage.transfer_r2) and their rows copied. Without one, a node keeps serving R2 from its data dir.

AI Search comes last: an instance names the Vectorize index kumo manages for it (by account and name, which
the move keeps), and its chunk ids are that index's vector ids. Its rows keep their pks (sequences are moved
past them); the FTS5 keyword index becomes the chunks' `tsvector` column, for the chunks it covered.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kumo.errors import InvalidRequest
from kumo.storage.migrate import upgrade_postgres, upgrade_sqlite
from kumo.storage.pg_vectors import LockedIndex, PgVectorStore
from kumo.storage.postgres import PostgresConnection, PostgresDatabase
from kumo.storage.r2_s3engine import EngineConfig
from kumo.storage.transfer_r2 import R2_FILE, R2_TABLES, upload_blobs

BATCH = 1000
Progress = Callable[[str, int, int], None]  # table, rows copied so far, rows in all


@dataclass(frozen=True)
class Table:
    file: str
    branch: str
    name: str
    booleans: tuple[str, ...] = ()  # SQLite keeps them as 0/1; PostgreSQL takes no integer for a boolean


# In foreign-key order: a row's parent is copied before it.
TABLES = [
    Table("gateway.sqlite3", "gateway", "gateways"),
    Table("gateway.sqlite3", "gateway", "gateway_logs"),
    Table("gateway.sqlite3", "gateway", "gateway_log_bodies"),
    Table("gateway.sqlite3", "gateway", "gateway_routes"),
    Table("gateway.sqlite3", "gateway", "gateway_route_versions"),
    Table("gateway.sqlite3", "gateway", "gateway_rollups"),
    Table("ai-batches.sqlite3", "batches", "ai_batch_jobs"),
    Table("custom-models.sqlite3", "custom_models", "custom_models"),
    Table("custom-models.sqlite3", "custom_models", "custom_model_versions", booleans=("trusted",)),
    Table("custom-models.sqlite3", "custom_models", "custom_model_calls"),
]
# After Vectorize (see above); the FTS5 table is not copied as rows but rebuilt (_index_keywords).
AISEARCH = [Table("aisearch.sqlite3", "aisearch", name) for name in (
    "aisearch_namespaces", "aisearch_instances", "aisearch_items", "aisearch_chunks", "aisearch_jobs",
    "aisearch_job_logs", "aisearch_item_logs")]
R2 = [Table(R2_FILE, "r2", name) for name in R2_TABLES]
SERIAL = ("aisearch_instances", "aisearch_items", "aisearch_chunks", "aisearch_jobs", "aisearch_job_logs",
          "aisearch_item_logs")  # tables whose pk comes from a sequence
SERIAL_IDS = ("custom_model_calls",)  # and tables whose `id` does


def _rows(path: Path, table: str) -> tuple[list[str], int, Iterator[tuple]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
    total = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def rows() -> Iterator[tuple]:
        try:
            yield from conn.execute(f"SELECT {', '.join(columns)} FROM {table}")
        finally:
            conn.close()

    return columns, total, rows()


def _check_empty(conn: PostgresConnection) -> None:
    for table in [t.name for t in TABLES + AISEARCH + R2] + ["vectorize_indexes"]:
        if conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
            raise InvalidRequest(f"the target database already holds kumo state (table {table} has rows); "
                                 "import into an empty database")


def copy_data_dir(data_dir: Path, url: str, progress: Progress = lambda table, done, total: None,
                  r2_engine: EngineConfig | None = None) -> dict[str, int]:
    """Copy every table of the data dir into PostgreSQL (and R2's bytes into `r2_engine`, if given); returns
    rows copied per table."""
    upgrade_postgres(url)
    copied: dict[str, int] = {}
    db = PostgresDatabase(url, max_connections=1)
    try:
        with db.transaction() as conn:
            _check_empty(conn)
            for table in TABLES:
                copied.update(_copy_table(data_dir, table, conn, progress))
            for name in SERIAL_IDS:
                conn.execute(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'),"
                             f" (SELECT coalesce(max(id), 0) + 1 FROM {name}), false)")
            vectors = data_dir / "vectorize.sqlite3"
            if vectors.exists():
                upgrade_sqlite(vectors, "vectorize")
                copied.update(_copy_vectorize(vectors, PgVectorStore(db), conn, progress))
            if r2_engine is not None and (data_dir / R2_FILE).exists():
                upgrade_sqlite(data_dir / R2_FILE, "r2")
                upload_blobs(data_dir, r2_engine, progress)  # bytes before rows: see transfer_r2
                for table in R2:
                    copied.update(_copy_table(data_dir, table, conn, progress))
            for table in AISEARCH:
                copied.update(_copy_table(data_dir, table, conn, progress))
            if (data_dir / "aisearch.sqlite3").exists():
                _index_keywords(data_dir / "aisearch.sqlite3", conn)
                # a job left unfinished by the embedded kumo is not running anywhere now
                conn.execute("UPDATE aisearch_jobs SET ended_at = coalesce(last_seen_at, started_at),"
                             " end_reason = 'interrupted' WHERE ended_at IS NULL")
                for name in SERIAL:
                    conn.execute(f"SELECT setval(pg_get_serial_sequence('{name}', 'pk'),"
                                 f" (SELECT coalesce(max(pk), 0) + 1 FROM {name}), false)")
    finally:
        db.close()
    return copied


def _copy_table(data_dir: Path, table: Table, conn: PostgresConnection, progress: Progress) -> dict[str, int]:
    path = data_dir / table.file
    if not path.exists():
        return {}
    upgrade_sqlite(path, table.branch)  # an older data dir: bring its schema up first
    columns, total, rows = _rows(path, table.name)
    if table.booleans:
        flags = [columns.index(c) for c in table.booleans]
        rows = (tuple(bool(v) if i in flags and v is not None else v for i, v in enumerate(row)) for row in rows)
    insert = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    done = 0
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            conn.executemany(insert, batch)
            done += len(batch)
            batch = []
            progress(table.name, done, total)
    if batch:
        conn.executemany(insert, batch)
        done += len(batch)
    progress(table.name, done, total)
    return {table.name: done}


def _index_keywords(path: Path, conn: PostgresConnection) -> None:
    """The chunks FTS5 indexed (instances with keyword search) get their `tsvector`, or their trigram flag; others
    stay out of the keyword index. (The similarity cache is not copied: it refills.)"""
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        pks = [row[0] for row in source.execute("SELECT rowid FROM aisearch_fts ORDER BY rowid")]
        has_trigram = source.execute("SELECT 1 FROM sqlite_master WHERE name = 'aisearch_fts_trigram'").fetchone()
        trigram = [row[0] for row in source.execute("SELECT rowid FROM aisearch_fts_trigram ORDER BY rowid")] \
            if has_trigram else []
    finally:
        source.close()
    for start in range(0, len(pks), BATCH):
        conn.execute("UPDATE aisearch_chunks SET keywords = to_tsvector('english', text) WHERE pk = ANY(?)",
                     (pks[start : start + BATCH],))
    for start in range(0, len(trigram), BATCH):
        conn.execute("UPDATE aisearch_chunks SET trigram = true WHERE pk = ANY(?)", (trigram[start : start + BATCH],))


def _copy_vectorize(path: Path, store: PgVectorStore, conn: PostgresConnection, progress: Progress) -> dict[str, int]:
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        indexes = source.execute(
            "SELECT pk, account, name, description, dimensions, metric, preset, created_on, modified_on,"
            " mutation_id, mutation_at, seq FROM vectorize_indexes ORDER BY pk").fetchall()
        total = source.execute("SELECT count(*) FROM vectorize_vectors").fetchone()[0]
        done = 0
        for pk, account, name, description, dims, metric, preset, created, modified, mutation_id, mutation_at, seq \
                in indexes:
            record = store.insert_index(conn, account, name, description, dims, metric, preset, created)
            target = LockedIndex(store, conn, record)
            for prop, kind, created_seq in source.execute(
                    "SELECT property_name, index_type, created_seq FROM vectorize_metadata_indexes"
                    " WHERE index_pk = ?", (pk,)):
                target.add_metadata_index(prop, kind, created_seq)
            count = 0
            for rows in _vector_batches(source, pk):
                target.copy_new([r[0] for r in rows], np.stack([np.frombuffer(r[2], np.float32) for r in rows]),
                                [r[1] for r in rows], [json.loads(r[3]) if r[3] else None for r in rows],
                                [r[4] for r in rows])
                count += len(rows)
                done += len(rows)
                progress("vectorize_vectors", done, total)
            if count:  # load first, then build the graph over it all
                store.build_graph_in(conn, record, count)
            conn.execute("UPDATE vectorize_indexes SET modified_on = ?, mutation_id = ?, mutation_at = ?, seq = ?,"
                         " vector_count = ? WHERE pk = ?",
                         (modified, mutation_id, mutation_at, seq, count, record.pk))
        progress("vectorize_vectors", done, total)
        return {"vectorize_indexes": len(indexes), "vectorize_vectors": done}
    finally:
        source.close()


def _vector_batches(source: sqlite3.Connection, pk: int) -> Iterator[list[tuple]]:
    """The index's vectors (id, namespace, values, metadata, seq), BATCH at a time."""
    cursor = source.execute(
        "SELECT id, namespace, vals, metadata, seq FROM vectorize_vectors WHERE index_pk = ? ORDER BY seq, id", (pk,))
    while rows := cursor.fetchmany(BATCH):
        yield rows
