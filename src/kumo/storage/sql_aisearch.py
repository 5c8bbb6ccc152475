"""AI Search state in SQL (SQLite or PostgreSQL): namespaces, instances, items (uploaded bytes as blobs, so an
upload is one transaction), chunks with their keyword index (`aisearch_keywords`: the one dialect-specific
part, kept in step with the chunk rows inside the same transactions), indexing jobs and logs.

Jobs carry a lease when several nodes share the database: a job is live while its node renews
`lease_until`; one whose lease ran out (its node died) is closed as interrupted by whoever notices first.
At most one unfinished job per instance (a unique partial index), so two nodes never run one twice."""

from __future__ import annotations

import json
import time

from kumo.aisearch.store import (
    InstanceRecord,
    ItemLog,
    ItemRecord,
    JobRecord,
    NamespaceRecord,
    StoredChunk,
)
from kumo.storage.aisearch_keywords import Fts5Keywords, TsvectorKeywords

_INSTANCE = "pk, account, namespace, id, config, vector_index, created_at, modified_at, last_activity"
_ITEM = ("pk, instance_pk, id, key, source_id, checksum, status, error, file_size, chunks_count, metadata, "
         "index_signature, created_at, last_seen_at")
_CHUNK = "chunk_id, item_pk, position, text, start_byte, end_byte"
_JOB = "pk, instance_pk, id, source, description, started_at, ended_at, end_reason, last_seen_at"
_STATUS_ORDER = "CASE status WHEN 'running' THEN 0 WHEN 'queued' THEN 1 WHEN 'error' THEN 2 ELSE 3 END"


def _instance(row) -> InstanceRecord:
    pk, account, namespace, iid, config, vector_index, created, modified, activity = row
    return InstanceRecord(pk, account, namespace, iid, json.loads(config), vector_index, created, modified, activity)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _item(row) -> ItemRecord:
    values = list(row)
    values[10] = json.loads(values[10])
    return ItemRecord(*values)


def _interrupt(conn, now: str, where: str, args: tuple) -> int:
    return conn.execute("UPDATE aisearch_jobs SET ended_at = ?, end_reason = 'interrupted', last_seen_at = ?,"
                        " lease_until = NULL WHERE ended_at IS NULL" + where, (now, now, *args)).rowcount


class SqlAiSearchStore:
    def __init__(self, db):
        self.db = db
        self.keywords = TsvectorKeywords() if db.dialect == "postgresql" else Fts5Keywords()
        # items listed newest first by their file's timestamp (NULLS LAST: PostgreSQL would put them first)
        self._timestamp = ("(metadata::jsonb -> 'timestamp')" if db.dialect == "postgresql"
                           else "json_extract(metadata, '$.timestamp')")

    # ---- namespaces -----------------------------------------------------------------------------
    def create_namespace(self, account, name, description, now):
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO aisearch_namespaces (account, name, description, created_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING", (account, name, description, now))
            if cur.rowcount == 0:
                return None
        return NamespaceRecord(account, name, description, now)

    def get_namespace(self, account, name):
        with self.db.reading() as conn:
            row = conn.execute("SELECT account, name, description, created_at FROM aisearch_namespaces"
                               " WHERE account = ? AND name = ?", (account, name)).fetchone()
        return NamespaceRecord(*row) if row else None

    def list_namespaces(self, account):
        with self.db.reading() as conn:
            rows = conn.execute("SELECT account, name, description, created_at FROM aisearch_namespaces"
                                " WHERE account = ? ORDER BY name", (account,)).fetchall()
        return [NamespaceRecord(*r) for r in rows]

    def update_namespace(self, account, name, description):
        with self.db.transaction() as conn:
            conn.execute("UPDATE aisearch_namespaces SET description = ? WHERE account = ? AND name = ?",
                         (description, account, name))

    def delete_namespace(self, account, name):
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM aisearch_namespaces WHERE account = ? AND name = ?", (account, name))

    # ---- instances ------------------------------------------------------------------------------
    def create_instance(self, account, namespace, instance_id, config, vector_index, now):
        with self.db.transaction() as conn:
            row = conn.execute(
                "INSERT INTO aisearch_instances (account, namespace, id, config, vector_index, created_at, modified_at)"
                f" VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING {_INSTANCE}",
                (account, namespace, instance_id, json.dumps(config), vector_index, now, now)).fetchone()
        return _instance(row) if row else None

    def get_instance(self, account, namespace, instance_id):
        with self.db.reading() as conn:
            row = conn.execute(f"SELECT {_INSTANCE} FROM aisearch_instances WHERE account = ? AND namespace = ?"
                               " AND id = ?", (account, namespace, instance_id)).fetchone()
        return _instance(row) if row else None

    def list_instances(self, account, namespace):
        sql = f"SELECT {_INSTANCE} FROM aisearch_instances WHERE account = ?"
        args: list = [account]
        if namespace is not None:
            sql += " AND namespace = ?"
            args.append(namespace)
        with self.db.reading() as conn:
            rows = conn.execute(sql + " ORDER BY created_at, pk", args).fetchall()
        return [_instance(r) for r in rows]

    def all_instances(self):
        with self.db.reading() as conn:
            rows = conn.execute(f"SELECT {_INSTANCE} FROM aisearch_instances ORDER BY pk").fetchall()
        return [_instance(r) for r in rows]

    def update_instance(self, pk, config, now):
        with self.db.transaction() as conn:
            conn.execute("UPDATE aisearch_instances SET config = ?, modified_at = ? WHERE pk = ?",
                         (json.dumps(config), now, pk))

    def touch_instance(self, pk, now):
        with self.db.transaction() as conn:
            conn.execute("UPDATE aisearch_instances SET last_activity = ? WHERE pk = ?", (now, pk))

    def delete_instance(self, pk):
        with self.db.transaction() as conn:
            self.keywords.unindex(conn, "instance_pk", pk)
            conn.execute("DELETE FROM aisearch_chunks WHERE instance_pk = ?", (pk,))
            conn.execute("DELETE FROM aisearch_instances WHERE pk = ?", (pk,))

    # ---- items ------------------------------------------------------------------------------------
    def put_item(self, instance_pk, item_id, key, source_id, checksum, file_size, metadata, content, status, now):
        """Insert the item, or update the one with this key (keeping its id, chunks and created_at)."""
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO aisearch_items (instance_pk, id, key, source_id, checksum, status, error, file_size,"
                " metadata, content, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)"
                " ON CONFLICT (instance_pk, key) DO UPDATE SET source_id = excluded.source_id,"
                " checksum = excluded.checksum, status = excluded.status, error = NULL,"
                " file_size = excluded.file_size, metadata = excluded.metadata, content = excluded.content,"
                " last_seen_at = excluded.last_seen_at",
                (instance_pk, item_id, key, source_id, checksum, status, file_size, json.dumps(metadata), content,
                 now, now))
            row = conn.execute(f"SELECT {_ITEM} FROM aisearch_items WHERE instance_pk = ? AND key = ?",
                               (instance_pk, key)).fetchone()
        return _item(row)

    def get_item(self, instance_pk, item_id):
        with self.db.reading() as conn:
            row = conn.execute(f"SELECT {_ITEM} FROM aisearch_items WHERE instance_pk = ? AND id = ?",
                               (instance_pk, item_id)).fetchone()
        return _item(row) if row else None

    def get_item_by_key(self, instance_pk, key):
        with self.db.reading() as conn:
            row = conn.execute(f"SELECT {_ITEM} FROM aisearch_items WHERE instance_pk = ? AND key = ?",
                               (instance_pk, key)).fetchone()
        return _item(row) if row else None

    def list_items(self, instance_pk, *, status=None, key=None, item_id=None, source_id=None, search=None,
                   sort_by="status", offset=0, limit=None):
        where, args = ["instance_pk = ?"], [instance_pk]
        for column, value in (("status", status), ("key", key), ("id", item_id), ("source_id", source_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if search:
            where.append("lower(key) LIKE ? ESCAPE '\\'")
            args.append("%" + _escape_like(search.lower()) + "%")
        clause = " AND ".join(where)
        order = (f"{_STATUS_ORDER}, last_seen_at DESC, pk" if sort_by == "status"
                 else f"{self._timestamp} DESC NULLS LAST, created_at DESC, pk")
        with self.db.reading() as conn:
            total = conn.execute(f"SELECT count(*) FROM aisearch_items WHERE {clause}", args).fetchone()[0]
            sql = f"SELECT {_ITEM} FROM aisearch_items WHERE {clause} ORDER BY {order}"
            if limit is not None:
                sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
            rows = conn.execute(sql, args).fetchall()
        return [_item(r) for r in rows], total

    def item_content(self, item_pk):
        with self.db.reading() as conn:
            row = conn.execute("SELECT content FROM aisearch_items WHERE pk = ?", (item_pk,)).fetchone()
        return row[0] if row else None

    def set_item_status(self, item_pk, status, error, now):
        with self.db.transaction() as conn:
            conn.execute("UPDATE aisearch_items SET status = ?, error = ?, last_seen_at = ? WHERE pk = ?",
                         (status, error, now, item_pk))

    def replace_chunks(self, item_pk, chunks, *, keyword, status, error, index_signature, now):
        """The item's chunks (and their keyword-index rows) become exactly `chunks`, in one transaction."""
        with self.db.transaction() as conn:
            instance_pk = conn.execute("SELECT instance_pk FROM aisearch_items WHERE pk = ?", (item_pk,)).fetchone()[0]
            self._drop_chunks(conn, item_pk)
            if chunks:
                conn.executemany(
                    "INSERT INTO aisearch_chunks (instance_pk, item_pk, chunk_id, position, text, start_byte, end_byte)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(instance_pk, item_pk, c.chunk_id, c.position, c.text, c.start_byte, c.end_byte) for c in chunks])
                if keyword:  # the tokenizer's name, or None for no keyword index
                    self.keywords.index_item(conn, item_pk, keyword)
            conn.execute("UPDATE aisearch_items SET status = ?, error = ?, chunks_count = ?, index_signature = ?,"
                         " last_seen_at = ? WHERE pk = ?", (status, error, len(chunks), index_signature, now, item_pk))
            row = conn.execute(f"SELECT {_ITEM} FROM aisearch_items WHERE pk = ?", (item_pk,)).fetchone()
        return _item(row)

    def _drop_chunks(self, conn, item_pk: int) -> None:
        self.keywords.unindex(conn, "item_pk", item_pk)
        conn.execute("DELETE FROM aisearch_chunks WHERE item_pk = ?", (item_pk,))

    def delete_item(self, item_pk):
        with self.db.transaction() as conn:
            self._drop_chunks(conn, item_pk)
            conn.execute("DELETE FROM aisearch_items WHERE pk = ?", (item_pk,))

    def status_counts(self, instance_pk):
        with self.db.reading() as conn:
            rows = conn.execute("SELECT status, count(*) FROM aisearch_items WHERE instance_pk = ? GROUP BY status",
                                (instance_pk,)).fetchall()
        return dict(rows)

    def stored_bytes(self, instance_pk):
        with self.db.reading() as conn:
            row = conn.execute("SELECT count(*), coalesce(sum(length(content)), 0) FROM aisearch_items"
                               " WHERE instance_pk = ? AND content IS NOT NULL", (instance_pk,)).fetchone()
        return row[0], row[1]

    # ---- chunks ---------------------------------------------------------------------------------
    def chunk_ids(self, item_pk):
        with self.db.reading() as conn:
            rows = conn.execute("SELECT chunk_id FROM aisearch_chunks WHERE item_pk = ? ORDER BY position",
                                (item_pk,)).fetchall()
        return [r[0] for r in rows]

    def instance_chunk_ids(self, instance_pk):
        with self.db.reading() as conn:
            return {r[0] for r in conn.execute("SELECT chunk_id FROM aisearch_chunks WHERE instance_pk = ?",
                                               (instance_pk,))}

    def item_chunks(self, item_pk, offset, limit):
        with self.db.reading() as conn:
            rows = conn.execute(f"SELECT {_CHUNK} FROM aisearch_chunks WHERE item_pk = ? ORDER BY position"
                                " LIMIT ? OFFSET ?", (item_pk, limit, offset)).fetchall()
        return [StoredChunk(*r) for r in rows]

    def chunks_by_id(self, instance_pk, chunk_ids):
        if not chunk_ids:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        with self.db.reading() as conn:
            rows = conn.execute(f"SELECT {_CHUNK} FROM aisearch_chunks WHERE instance_pk = ? AND chunk_id IN ({marks})",
                                [instance_pk, *chunk_ids]).fetchall()
        return {r[0]: StoredChunk(*r) for r in rows}

    def chunks_at(self, item_pk, positions):
        if not positions:
            return []
        marks = ",".join("?" * len(positions))
        with self.db.reading() as conn:
            rows = conn.execute(f"SELECT {_CHUNK} FROM aisearch_chunks WHERE item_pk = ? AND position IN ({marks})"
                                " ORDER BY position", [item_pk, *positions]).fetchall()
        return [StoredChunk(*r) for r in rows]

    def keyword_search(self, instance_pk, terms, mode, limit, item_pks, tokenizer="porter"):
        query = self.keywords.search(terms, mode, tokenizer)
        if query is None or (item_pks is not None and not item_pks):
            return []
        sql, args = query[0] + " AND c.instance_pk = ?", [*query[1], instance_pk]
        if item_pks is not None:  # one parameter, however many items a metadata filter lets through
            if self.db.dialect == "postgresql":
                sql += " AND c.item_pk = ANY(?)"
                args.append(sorted(item_pks))
            else:  # (one `?` each ran into SQLite's limit, and PostgreSQL's 65,535)
                sql += " AND c.item_pk IN (SELECT value FROM json_each(?))"
                args.append(json.dumps(sorted(item_pks)))
        sql += " ORDER BY score DESC, c.pk LIMIT ?"
        args.append(limit)
        with self.db.reading() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [(r[0], max(float(r[1]), 0.0)) for r in rows]

    def items_by_pk(self, item_pks):
        if not item_pks:
            return {}
        marks = ",".join("?" * len(item_pks))
        with self.db.reading() as conn:
            rows = conn.execute(f"SELECT {_ITEM} FROM aisearch_items WHERE pk IN ({marks})", list(item_pks)).fetchall()
        return {r[0]: _item(r) for r in rows}

    def items_metadata(self, instance_pk):
        with self.db.reading() as conn:
            rows = conn.execute("SELECT pk, metadata FROM aisearch_items WHERE instance_pk = ?", (instance_pk,)).fetchall()
        return [(pk, json.loads(meta)) for pk, meta in rows]

    # ---- the similarity cache -------------------------------------------------------------------
    def cache_candidates(self, instance_pk, context, now, limit):
        with self.db.reading() as conn:
            rows = conn.execute("SELECT embedding, response FROM aisearch_cache WHERE instance_pk = ? AND context = ?"
                                " AND expires_at > ? ORDER BY pk DESC LIMIT ?",
                                (instance_pk, context, now, limit)).fetchall()
        return [(json.loads(embedding), response) for embedding, response in rows]

    def cache_put(self, instance_pk, context, query, embedding, response, expires_at, now):
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM aisearch_cache WHERE instance_pk = ? AND expires_at <= ?", (instance_pk, now))
            conn.execute("INSERT INTO aisearch_cache (instance_pk, context, query, embedding, response, expires_at)"
                         " VALUES (?, ?, ?, ?, ?, ?)",
                         (instance_pk, context, query, json.dumps(embedding), response, expires_at))

    def purge_cache(self, instance_pk):
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM aisearch_cache WHERE instance_pk = ?", (instance_pk,)).rowcount

    # ---- jobs and logs ----------------------------------------------------------------------------
    def create_job(self, instance_pk, job_id, source, description, now, *, lease_until=None, not_since=None):
        """The instance's new job, or None if it has an unfinished one (or, given `not_since`, one that started
        after it). An unfinished job whose lease ran out is closed as interrupted first."""
        with self.db.transaction() as conn:
            _interrupt(conn, now, " AND instance_pk = ? AND lease_until < ?", (instance_pk, time.time()))
            if not_since is not None and conn.execute(
                    "SELECT 1 FROM aisearch_jobs WHERE instance_pk = ? AND started_at > ?",
                    (instance_pk, not_since)).fetchone():
                return None
            # two nodes starting a job at once: the unique partial index lets one in, the other does nothing
            row = conn.execute(
                "INSERT INTO aisearch_jobs (instance_pk, id, source, description, started_at, last_seen_at, lease_until)"
                f" VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING {_JOB}",
                (instance_pk, job_id, source, description, now, now, lease_until)).fetchone()
        return JobRecord(*row) if row else None

    def get_job(self, instance_pk, job_id):
        with self.db.reading() as conn:
            row = conn.execute(f"SELECT {_JOB} FROM aisearch_jobs WHERE instance_pk = ? AND id = ?",
                               (instance_pk, job_id)).fetchone()
        return JobRecord(*row) if row else None

    def list_jobs(self, instance_pk, offset, limit):
        with self.db.reading() as conn:
            total = conn.execute("SELECT count(*) FROM aisearch_jobs WHERE instance_pk = ?", (instance_pk,)).fetchone()[0]
            rows = conn.execute(f"SELECT {_JOB} FROM aisearch_jobs WHERE instance_pk = ? ORDER BY pk DESC"
                                " LIMIT ? OFFSET ?", (instance_pk, limit, offset)).fetchall()
        return [JobRecord(*r) for r in rows], total

    def running_job(self, instance_pk):
        """The pk of the instance's unfinished job whose lease (if it has one) still runs, or None."""
        with self.db.reading() as conn:
            row = conn.execute("SELECT pk FROM aisearch_jobs WHERE instance_pk = ? AND ended_at IS NULL"
                               " AND (lease_until IS NULL OR lease_until >= ?)", (instance_pk, time.time())).fetchone()
        return row[0] if row else None

    def renew_job(self, job_pk, lease_until):
        """Extend a running job's lease: None if the job was closed meanwhile (its lease had run out), else
        whether someone asked it to stop."""
        with self.db.transaction() as conn:
            row = conn.execute("UPDATE aisearch_jobs SET lease_until = ? WHERE pk = ? AND ended_at IS NULL"
                               " RETURNING cancel_requested", (lease_until, job_pk)).fetchone()
        return None if row is None else bool(row[0])

    def request_cancel(self, job_pk):
        with self.db.transaction() as conn:
            return conn.execute("UPDATE aisearch_jobs SET cancel_requested = 1 WHERE pk = ? AND ended_at IS NULL",
                                (job_pk,)).rowcount == 1

    def finish_job(self, job_pk, end_reason, now):
        with self.db.transaction() as conn:
            conn.execute("UPDATE aisearch_jobs SET ended_at = ?, end_reason = ?, last_seen_at = ?, lease_until = NULL"
                         " WHERE pk = ? AND ended_at IS NULL", (now, end_reason, now, job_pk))

    def interrupt_unfinished_jobs(self, now, *, expired_only=False):
        """Close unfinished jobs as interrupted: all of them (embedded: whoever ran them is gone), or those
        whose lease ran out (shared: other nodes' jobs may be running)."""
        with self.db.transaction() as conn:
            if expired_only:
                # no lease at all: a job copied from an embedded data dir
                return _interrupt(conn, now, " AND (lease_until IS NULL OR lease_until < ?)", (time.time(),))
            return _interrupt(conn, now, "", ())

    def add_job_log(self, job_pk, message, message_type, at):
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO aisearch_job_logs (job_pk, created_at, message, message_type) VALUES (?, ?, ?, ?)",
                         (job_pk, at, message, message_type))

    def job_logs(self, job_pk, offset, limit):
        with self.db.reading() as conn:
            rows = conn.execute("SELECT pk, created_at, message, message_type FROM aisearch_job_logs WHERE job_pk = ?"
                                " ORDER BY pk LIMIT ? OFFSET ?", (job_pk, limit, offset)).fetchall()
        return [{"id": r[0], "created_at": r[1], "message": r[2], "message_type": r[3]} for r in rows]

    def add_item_log(self, instance_pk, item_id, log):
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO aisearch_item_logs (instance_pk, item_id, action, file_key, chunk_count, error_type,"
                " message, processing_time_ms, timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (instance_pk, item_id, log.action, log.file_key, log.chunk_count, log.error_type, log.message,
                 log.processing_time_ms, log.timestamp))

    def item_logs(self, instance_pk, item_id, after, limit):
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT pk, action, file_key, chunk_count, error_type, message, processing_time_ms, timestamp"
                " FROM aisearch_item_logs WHERE instance_pk = ? AND item_id = ? AND pk > ? ORDER BY pk LIMIT ?",
                (instance_pk, item_id, after, limit)).fetchall()
        return [(r[0], ItemLog(*r[1:])) for r in rows]

    def close(self):
        if self.db.dialect != "postgresql":
            self.db.close()  # a PostgreSQL pool is shared: Platform closes it after every store
