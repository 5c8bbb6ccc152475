"""Vectorize state in PostgreSQL with pgvector, shared by every kumo node.

One table holds the vectors of all indexes (`embedding vector` of any dimension). Each index gets a
partial HNSW index over a cast to its dimension (`(embedding::vector(384)) vector_cosine_ops WHERE
index_pk = 7`), made with the index and dropped with it; an approximate query orders by that same
expression so the planner walks the graph. Exact queries order by an expression the HNSW index does not
match, so they always scan (through metadata indexes when a filter allows). Metadata indexes are partial
expression indexes over `kumo_vectorize_<type>(metadata, path)` (migration vectorize_0002).

Bulk paths: new rows of a large write go in by binary COPY. An index gets its HNSW graph only once it is
large enough for approximate queries (smaller ones are scanned exactly anyway), and then built in one go
over the rows already there (`build_graph`, with memory and parallel workers for it) instead of grown
row by row inside each write, which is what made loading slow (186 vectors/s into a 100k index). Once
the graph exists, writes keep it up to date as before. `kumo migrate --from` loads first and builds after.

Writers of one index take its row lock (`SELECT ... FOR UPDATE`) first: writes of one index are
serialised across nodes, and the sequence number, mutation id and vector count move with the data.
Index pks and dimensions are written into the SQL as literals: a partial index is only usable when the
planner sees the constant.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import psycopg
from psycopg import sql
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format
from psycopg.types import TypeInfo
from psycopg.types.json import Jsonb

from kumo.storage.pg_filters import filter_sql, metadata_expression
from kumo.storage.postgres import PostgresConnection, PostgresDatabase, UnstorableValue, scalar
from kumo.vectorize.errors import INVALID_VECTOR, invalid
from kumo.vectorize.filters import MetadataFilter
from kumo.vectorize.store import IndexRecord, MetadataIndexRecord, Mutation, StoredVector

_INDEX_COLUMNS = (
    "pk, account, name, description, dimensions, metric, preset, created_on, modified_on, "
    "mutation_id, mutation_at, seq, vector_count"
)
# metric -> (HNSW operator class, distance operator); distances are pgvector's, scores are ours
_METRIC_SQL = {
    "cosine": ("vector_cosine_ops", "<=>"),
    "euclidean": ("vector_l2_ops", "<->"),
    "dot-product": ("vector_ip_ops", "<#>"),
}


def _record(row: tuple) -> IndexRecord:
    return IndexRecord(*row)


class _VectorDumper(Dumper):
    """numpy float32 -> pgvector's binary format (big-endian floats), exact."""

    format = Format.BINARY

    def dump(self, obj: np.ndarray) -> bytes:
        return struct.pack(">HH", len(obj), 0) + np.asarray(obj, dtype=">f4").tobytes()


class _VectorLoader(Loader):
    format = Format.BINARY

    def load(self, data) -> np.ndarray:
        return np.frombuffer(data, dtype=">f4", offset=4).astype(np.float32)


class _VectorBytesLoader(Loader):
    """pgvector's binary format as it came (turned into one matrix for all rows at once)."""

    format = Format.BINARY

    def load(self, data) -> bytes:
        return bytes(data)


class PgVectorStore:
    def __init__(self, db: PostgresDatabase, hnsw_m: int = 16, hnsw_ef_construction: int = 128):
        self.db = db
        self.hnsw_m = hnsw_m
        self.hnsw_ef_construction = hnsw_ef_construction
        self._vector_type: tuple[int, type[Dumper]] | None = None
        # graph walks: whatever the planner's statistics say (a freshly loaded index is not analysed yet), the
        # caller chose the graph, as the embedded engine walks its own
        self._graph_reads = db.statements(
            {"enable_seqscan": "off", "enable_bitmapscan": "off", "enable_sort": "off"})

    def vector_oid(self, conn: PostgresConnection) -> int:
        self._cursor(conn)
        assert self._vector_type is not None
        return self._vector_type[0]

    def _cursor(self, conn: PostgresConnection):
        """A binary cursor that speaks numpy <-> vector (registered on the cursor: the pool is shared)."""
        cursor = conn.raw.cursor(binary=True)
        self._adapt(conn.raw, cursor.adapters, _VectorLoader)
        return cursor

    def _adapt(self, conn: psycopg.Connection, adapters, loader: type[Loader]) -> None:
        """numpy arrays sent as pgvector's binary vectors, and vectors read by `loader`, on these adapters."""
        if self._vector_type is None:
            info = TypeInfo.fetch(conn, "vector")
            if info is None:
                raise RuntimeError("the pgvector extension is missing (migration vectorize_0001 creates it)")
            self._vector_type = info.oid, type("VectorDumper", (_VectorDumper,), {"oid": info.oid})
        oid, dumper = self._vector_type
        adapters.register_dumper(np.ndarray, dumper)
        adapters.register_loader(oid, loader)

    # ---- indexes --------------------------------------------------------------------------
    def create_index(self, account, name, description, dimensions, metric, preset, now):
        with self.db.transaction() as conn:
            return self.insert_index(conn, account, name, description, dimensions, metric, preset, now)

    def insert_index(self, conn: PostgresConnection, account, name, description, dimensions, metric, preset, now):
        """The index row, in the caller's transaction (None: the name is taken). Its HNSW graph comes later
        (`build_graph`), once there are vectors enough to need it."""
        row = conn.execute(
            "INSERT INTO vectorize_indexes (account, name, description, dimensions, metric, preset,"
            " created_on, modified_on) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
            f" RETURNING {_INDEX_COLUMNS}",
            (account, name, description, dimensions, metric, preset, now, now),
        ).fetchone()
        if row is None:
            return None
        return _record(row)

    def _graph_sql(self, record: IndexRecord, concurrently: bool) -> sql.Composed:
        opclass, _ = _METRIC_SQL[record.metric]
        return sql.SQL(
            "CREATE INDEX {concurrently} IF NOT EXISTS {name} ON vectorize_vectors"
            " USING hnsw ((embedding::vector({dims})) {opclass})"
            " WITH (m = {m}, ef_construction = {efc}) WHERE index_pk = {pk}"
        ).format(
            concurrently=sql.SQL("CONCURRENTLY" if concurrently else ""),
            name=sql.Identifier(graph_name(record.pk)), dims=sql.Literal(record.dimensions),
            opclass=sql.SQL(opclass), m=sql.Literal(self.hnsw_m), efc=sql.Literal(self.hnsw_ef_construction),
            pk=sql.Literal(record.pk),
        )

    def _build_settings(self, record: IndexRecord, vectors: int, local: bool) -> list[sql.Composed]:
        """Memory for the whole graph (pgvector slows down a lot once it spills) and parallel workers."""
        graph_bytes = vectors * (record.dimensions * 4 + self.hnsw_m * 2 * 8 + 64)
        memory_mb = min(max(64, int(graph_bytes * 1.5) >> 20), 4096)
        workers = max(1, (os.cpu_count() or 2) - 1)  # the leader works too
        scope = sql.SQL("SET LOCAL" if local else "SET")
        return [sql.SQL("{} maintenance_work_mem = {}").format(scope, sql.Literal(f"{memory_mb}MB")),
                sql.SQL("{} max_parallel_maintenance_workers = {}").format(scope, sql.Literal(workers))]

    def build_graph_in(self, conn: PostgresConnection, record: IndexRecord, vectors: int) -> None:
        """Build the index's HNSW graph inside the caller's transaction (`kumo migrate`: nobody else writes)."""
        for statement in self._build_settings(record, vectors, local=True):
            conn.raw.execute(statement)
        conn.raw.execute(self._graph_sql(record, concurrently=False))

    def build_graph(self, record: IndexRecord, vectors: int) -> bool:
        """Build the index's HNSW graph over the rows already there, without blocking writers (CREATE INDEX
        CONCURRENTLY: rows written meanwhile are in it too). A build left half-done (INVALID) is dropped
        and done again. One node builds a graph at a time (an advisory lock); False: it was there already
        or another node is building it."""
        with psycopg.connect(self.db.url, autocommit=True) as conn:
            if not scalar(conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (_GRAPH_LOCK, record.pk))):
                return False
            valid = conn.execute(
                "SELECT x.indisvalid FROM pg_class c JOIN pg_index x ON x.indexrelid = c.oid WHERE c.relname = %s",
                (graph_name(record.pk),)).fetchone()
            if valid is not None and valid[0]:
                return False
            if valid is not None:
                conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(graph_name(record.pk))))
            for statement in self._build_settings(record, vectors, local=False):
                conn.execute(statement)
            conn.execute(self._graph_sql(record, concurrently=True))
        return True

    def graph_states(self) -> list[tuple[IndexRecord, bool | None]]:
        """Every index with whether its graph is built (True), half-built (False) or absent (None)."""
        with self.db.reading() as conn:
            rows = conn.execute(
                f"SELECT {', '.join('i.' + c.strip() for c in _INDEX_COLUMNS.split(','))}, x.indisvalid"
                " FROM vectorize_indexes i LEFT JOIN pg_class c ON c.relname = 'vectorize_hnsw_' || i.pk"
                " LEFT JOIN pg_index x ON x.indexrelid = c.oid").fetchall()
        return [(_record(r[:-1]), r[-1]) for r in rows]

    def get_index(self, account, name):
        with self.db.reading() as conn:
            row = conn.execute(
                f"SELECT {_INDEX_COLUMNS} FROM vectorize_indexes WHERE account = ? AND name = ?", (account, name)
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
            names = [_metadata_index_name(pk, r[0]) for r in conn.execute(
                "SELECT property_name FROM vectorize_metadata_indexes WHERE index_pk = ?", (pk,))]
            conn.execute("DELETE FROM vectorize_indexes WHERE pk = ?", (pk,))  # vectors go by cascade
            # last: DROP INDEX locks the whole vectors table until the commit that follows
            for name in [graph_name(pk), *names]:
                conn.raw.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(name)))

    def total_vectors(self) -> int:
        with self.db.reading() as conn:
            return int(scalar(conn.execute("SELECT coalesce(sum(vector_count), 0) FROM vectorize_indexes")))

    # ---- reads by id ----------------------------------------------------------------------
    def get_vectors(self, pk, ids):
        with self.db.reading() as conn:
            cursor = self._cursor(conn)
            rows = cursor.execute(
                "SELECT id, namespace, embedding, metadata, seq FROM vectorize_vectors"
                " WHERE index_pk = %s AND id = ANY(%s)",
                (pk, list(ids)),
            ).fetchall()
        found = {r[0]: StoredVector(r[0], r[1], r[2].tobytes(), r[3], r[4]) for r in rows}
        return [found[i] for i in dict.fromkeys(ids) if i in found]

    def count_vectors(self, pk):
        with self.db.reading() as conn:
            row = conn.execute("SELECT vector_count FROM vectorize_indexes WHERE pk = ?", (pk,)).fetchone()
        return int(row[0]) if row else 0

    def list_ids(self, pk, after, count):
        # byte order (COLLATE "C"), as SQLite sorts: cursors mean the same on both backends
        with self.db.reading() as conn:
            total = conn.execute("SELECT vector_count FROM vectorize_indexes WHERE pk = ?", (pk,)).fetchone()
            rows = conn.execute(
                'SELECT id FROM vectorize_vectors WHERE index_pk = ? AND id COLLATE "C" > ?'
                ' ORDER BY id COLLATE "C" LIMIT ?',
                (pk, after or "", count),
            ).fetchall()
        return [r[0] for r in rows], int(total[0]) if total else 0

    def metadata_indexes(self, pk):
        with self.db.reading() as conn:
            return _metadata_indexes(conn, pk)

    # ---- writes: one transaction holding the index's row lock -----------------------------
    @contextmanager
    def locked(self, pk: int) -> Iterator[LockedIndex | None]:
        """A transaction holding index `pk`'s row lock (None: the index is gone); it commits when the
        block ends and rolls back if it raises."""
        try:
            with self.db.transaction() as conn:
                row = conn.execute(f"SELECT {_INDEX_COLUMNS} FROM vectorize_indexes WHERE pk = ? FOR UPDATE",
                                   (pk,)).fetchone()
                yield LockedIndex(self, conn, _record(row)) if row else None
        except UnstorableValue as exc:  # e.g. a NUL character, which PostgreSQL text and jsonb refuse
            raise invalid("invalid_vector", f"this batch cannot be stored: {exc.message}", INVALID_VECTOR) from None

    # ---- queries --------------------------------------------------------------------------
    def search(
        self, record: IndexRecord, vector: np.ndarray, limit: int, *, exact: bool, ef_search: int,
        namespace: str | None = None, metadata_filter: MetadataFilter | None = None, with_metadata: bool = False,
    ) -> tuple[list[tuple], list[MetadataIndexRecord], int | None]:
        """Up to `limit` rows `(id, namespace, embedding, metadata, seq)` nearest to `vector` by pgvector's
        distance, the index's metadata indexes and its vector count (None: the index is gone), all read in
        one round trip and one snapshot."""
        if not exact:
            return self._graph_search(record, vector, limit, ef_search, with_metadata)
        _, operator = _METRIC_SQL[record.metric]
        where: list[sql.Composable] = [sql.SQL("index_pk = {}").format(sql.Literal(record.pk))]
        params: list = []
        with self.db.reading() as conn:
            meta = _metadata_indexes(conn, record.pk) if (metadata_filter or with_metadata) else []
            if namespace is not None:
                where.append(sql.SQL("namespace = %s"))
                params.append(namespace)
            if metadata_filter is not None:
                condition = filter_sql(metadata_filter, {m.property_name: m for m in meta})
                # its literals may hold '%', which psycopg would read as a parameter mark next to parameters
                where.append(sql.SQL(condition.as_string(conn.raw).replace("%", "%%")))
            # not the HNSW index's expression: always a scan. pgvector's cosine distance of a zero vector is
            # NaN; Cloudflare scores it 0, i.e. distance 1
            distance = sql.SQL("embedding {} %s").format(sql.SQL(operator))
            if record.metric == "cosine":
                distance = sql.SQL("coalesce(nullif({}, 'NaN'), 1)").format(distance)
            order = sql.SQL("{}, seq, id").format(distance)
            query = sql.SQL(
                "SELECT id, namespace, embedding, {metadata}, seq FROM vectorize_vectors WHERE {where}"
                " ORDER BY {order} LIMIT {limit}"
            ).format(
                metadata=sql.SQL("metadata" if with_metadata else "NULL::jsonb"),
                where=sql.SQL(" AND ").join(where), order=order, limit=sql.Literal(limit),
            )
            cursor = self._cursor(conn)
            with conn.raw.pipeline():  # the index row and the query in one round trip
                count = conn.execute("SELECT vector_count FROM vectorize_indexes WHERE pk = ?", (record.pk,))
                cursor.execute(query, (*params, vector))
            rows = cursor.fetchall()
            found = count.fetchone()
        return rows, meta, (int(found[0]) if found else None)

    def _graph_search(self, record: IndexRecord, vector: np.ndarray, limit: int, ef_search: int,
                      with_metadata: bool) -> tuple[list[tuple], list[MetadataIndexRecord], int | None]:
        """`search` along the index's HNSW graph: one statement on an autocommit connection, so one snapshot
        and one round trip (two when `ef_search` differs from the connection's last)."""
        _, operator = _METRIC_SQL[record.metric]
        pk = int(record.pk)
        meta = ("(SELECT json_agg(json_build_array(property_name, index_type, created_seq) ORDER BY property_name)"
                f" FROM vectorize_metadata_indexes WHERE index_pk = {pk})") if with_metadata else "NULL::json"
        # the index row on the left: it answers even when the index has no rows (or no longer exists)
        query = (
            f"SELECT i.vector_count, i.meta, v.* FROM (SELECT (SELECT vector_count FROM vectorize_indexes"
            f" WHERE pk = {pk}) AS vector_count, {meta} AS meta) i LEFT JOIN (SELECT id, namespace, embedding,"
            f" {'metadata' if with_metadata else 'NULL::jsonb'}, seq FROM vectorize_vectors WHERE index_pk = {pk}"
            f" ORDER BY embedding::vector({int(record.dimensions)}) {operator} %s LIMIT {int(limit)}) v ON true"
        )

        def read(conn: psycopg.Connection) -> list[tuple]:
            session = self._graph_reads.session(conn)
            if "adapted" not in session:  # used for graph reads only: the connection's adapters, not each cursor's
                self._adapt(conn, conn.adapters, _VectorBytesLoader)
                session["adapted"] = True
            if session.get("hnsw.ef_search") != ef_search:
                conn.execute(f"SET hnsw.ef_search = {int(ef_search)}")
                session["hnsw.ef_search"] = ef_search
            return conn.cursor(binary=True).execute(query, (vector,)).fetchall()

        answer = self._graph_reads.run(read)
        count, indexes = answer[0][0], answer[0][1]
        meta_records = [MetadataIndexRecord(*m) for m in indexes or []]
        found = [row for row in answer if row[2] is not None]
        rows: list[tuple] = []
        if found:  # each value: a 4-byte header (dimensions, unused), then big-endian float32s
            values = np.frombuffer(b"".join(row[4] for row in found), dtype=">f4")
            matrix = values.reshape(len(found), -1)[:, 1:].astype(np.float32)
            rows = [(row[2], row[3], matrix[i], row[5], row[6]) for i, row in enumerate(found)]
        return rows, meta_records, (int(count) if count is not None else None)

    def close(self) -> None:
        pass  # the pools belong to Platform


class LockedIndex:
    """What a writer may do inside `PgVectorStore.locked`."""

    def __init__(self, store: PgVectorStore, conn: PostgresConnection, record: IndexRecord):
        self.store = store
        self.conn = conn
        self.record = record
        self.pk = record.pk

    def stored_ids(self, ids: list[str]) -> set[str]:
        rows = self.conn.execute("SELECT id FROM vectorize_vectors WHERE index_pk = ? AND id = ANY(?)",
                                 (self.pk, list(ids)))
        return {r[0] for r in rows}

    def known_namespaces(self, names: set[str]) -> set[str]:
        # One index probe per name, as namespace_count's. DISTINCT over `namespace = ANY(...)` read every vector in
        # those namespaces (100-230 ms at 1M); an EXISTS or a LIMIT 1 may be planned as a scan of the whole index's
        # rows; the first name at or after each one, in the index's order, is always a probe (0.3 ms).
        rows = self.conn.execute(
            "SELECT n FROM unnest(?::text[]) AS n WHERE (SELECT namespace FROM vectorize_vectors"
            " WHERE index_pk = ? AND namespace >= n ORDER BY namespace LIMIT 1) = n",
            (list(names), self.pk),
        )
        return {r[0] for r in rows}

    def namespace_count(self) -> int:
        # one index probe per namespace (a loose index scan), not one row per vector
        return int(scalar(self.conn.execute(
            """
            WITH RECURSIVE ns(name) AS (
                (SELECT namespace FROM vectorize_vectors WHERE index_pk = ? AND namespace IS NOT NULL
                 ORDER BY namespace LIMIT 1)
                UNION ALL
                SELECT (SELECT namespace FROM vectorize_vectors WHERE index_pk = ? AND namespace > ns.name
                        ORDER BY namespace LIMIT 1)
                FROM ns WHERE ns.name IS NOT NULL
            ) SELECT count(name) FROM ns
            """,
            (self.pk, self.pk),
        )))

    def bump(self, mutation: Mutation, added: int = 0) -> int:
        """The next mutation: sequence number, id and time, and the vector count's change."""
        return int(scalar(self.conn.execute(
            "UPDATE vectorize_indexes SET seq = seq + 1, mutation_id = ?, mutation_at = ?,"
            " vector_count = vector_count + ? WHERE pk = ? RETURNING seq",
            (mutation.id, mutation.at, added, self.pk),
        )))

    def upsert(self, ids: list[str], values: np.ndarray, namespaces: list[str | None],
               metadatas: list[dict | None], seq: int) -> None:
        cursor = self.store._cursor(self.conn)
        cursor.executemany(
            "INSERT INTO vectorize_vectors (index_pk, id, namespace, embedding, metadata, seq)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (index_pk, id) DO UPDATE SET"
            " namespace = EXCLUDED.namespace, embedding = EXCLUDED.embedding, metadata = EXCLUDED.metadata,"
            " seq = EXCLUDED.seq",
            [
                (self.pk, vid, ns, row, Jsonb(meta) if meta is not None else None, seq)
                for vid, ns, row, meta in zip(ids, namespaces, values, metadatas)
            ],
        )

    def copy_new(self, ids: list[str], values: np.ndarray, namespaces: list[str | None],
                 metadatas: list[dict | None], seqs: int | list[int]) -> None:
        """Rows whose ids the index does not hold yet, by binary COPY (several times faster than INSERT)."""
        cursor = self.store._cursor(self.conn)
        seq_of = seqs if isinstance(seqs, list) else [seqs] * len(ids)
        with cursor.copy("COPY vectorize_vectors (index_pk, id, namespace, embedding, metadata, seq)"
                         " FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["integer", "text", "text", self.store.vector_oid(self.conn), "jsonb", "integer"])
            for vid, ns, row, meta, seq in zip(ids, namespaces, values, metadatas, seq_of):
                copy.write_row((self.pk, vid, ns, row, Jsonb(meta) if meta is not None else None, seq))

    def delete(self, ids: list[str]) -> int:
        return self.conn.execute("DELETE FROM vectorize_vectors WHERE index_pk = ? AND id = ANY(?)",
                                 (self.pk, list(ids))).rowcount

    def metadata_indexes(self) -> list[MetadataIndexRecord]:
        return _metadata_indexes(self.conn, self.pk)

    def add_metadata_index(self, property_name: str, index_type: str, seq: int) -> None:
        """The record, and a real SQL index over what the filter compares (only vectors written from
        now on are filterable on it, as on Cloudflare: the index is partial on `seq`)."""
        self.conn.execute(
            "INSERT INTO vectorize_metadata_indexes (index_pk, property_name, index_type, created_seq)"
            " VALUES (?, ?, ?, ?)",
            (self.pk, property_name, index_type, seq),
        )
        self.conn.raw.execute(sql.SQL("CREATE INDEX {name} ON vectorize_vectors (({expr}){collate})"
                                      " WHERE index_pk = {pk} AND seq > {seq}").format(
            name=sql.Identifier(_metadata_index_name(self.pk, property_name)),
            expr=metadata_expression(property_name, index_type, collate=False),
            collate=sql.SQL(' COLLATE "C"' if index_type == "string" else ""),
            pk=sql.Literal(self.pk), seq=sql.Literal(seq),
        ))

    def drop_metadata_index(self, property_name: str) -> bool:
        deleted = self.conn.execute(
            "DELETE FROM vectorize_metadata_indexes WHERE index_pk = ? AND property_name = ?",
            (self.pk, property_name),
        ).rowcount
        if deleted:
            self.conn.raw.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(
                sql.Identifier(_metadata_index_name(self.pk, property_name))))
        return bool(deleted)


def _metadata_indexes(conn: PostgresConnection, pk: int) -> list[MetadataIndexRecord]:
    rows = conn.execute(
        "SELECT property_name, index_type, created_seq FROM vectorize_metadata_indexes"
        " WHERE index_pk = ? ORDER BY property_name",
        (pk,),
    ).fetchall()
    return [MetadataIndexRecord(*r) for r in rows]


_GRAPH_LOCK = 0x6B756D6F  # advisory lock class of graph builds ("kumo"); the index pk is the second key


def graph_name(pk: int) -> str:
    return f"vectorize_hnsw_{pk}"


def _metadata_index_name(pk: int, property_name: str) -> str:
    # identifiers stop at 63 bytes; property names may be 512 characters
    return f"vectorize_meta_{pk}_{hashlib.sha1(property_name.encode()).hexdigest()[:16]}"
