"""Vectorize on PostgreSQL + pgvector against the embedded engine: QPS and recall@10 on the same data.

What it measures, in one run, on N clustered synthetic vectors (384 dims, cosine, topK=10, the data of
bench/vectorize_query.py: same generator, same seed):

* both engines behind the same `VectorizeService` (validation, index lookup, result shaping): the
  embedded one (SQLite + in-memory HNSW graph built behind the writes) and the pgvector one (every
  query is SQL; the partial HNSW index of the index, `hnsw.ef_search` per query);
* ingest: vectors/s acknowledged through `VectorizeService.write` (new rows by binary COPY; the pgvector
  engine builds an index's HNSW graph once, over all its rows, when the load pauses; the embedded graph
  is built behind the writes), and end to end: until the graph is built;
* `kumo migrate --from` of the embedded data dir into a fresh database (COPY, then the graph): vectors/s;
* raw SQL on the same table, index and ef_search (one connection, `ORDER BY embedding <=> q LIMIT 10`)
  interleaved with the pgvector engine behind the service;
* unfiltered queries at several ef_search values, one query at a time, the engines taking turns chunk
  by chunk: recall@10 against numpy's exact top-10, QPS, p50/p99, and pgvector QPS / embedded QPS;
* filtered queries (a number metadata index, `bucket == b`, ~1 % of the vectors): both engines are
  exact there; QPS and whether every answer equals numpy's exact filtered top-10.

PostgreSQL runs on the same machine and competes for the same cores as this process: that is the
deployment the numbers describe (one node, local PostgreSQL), not a tuned database server.

Run:  .venv/bin/python bench/vectorize_pgvector.py      # N=100,000; creates and drops its own database
      .venv/bin/python bench/vectorize_pgvector.py --database-url postgresql://user@host/db
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import cpu_model, load_average, say, table  # noqa: E402
from _vectors import (  # noqa: E402  (the same data as the embedded benchmark)
    clustered, exact_topk, interleaved, pct_ms, recall_at_k, unit_centres,
)

ACCOUNT = "bench-account"
INDEX = "bench-pgvector"
TOP_K = 10
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


class ScratchDatabase:
    """A database of our own on the local server, dropped at the end (unless a URL was given)."""

    def __init__(self, url: str | None):
        self.given = url
        self.name = f"kumo_bench_{uuid.uuid4().hex[:8]}"
        self.url = url or f"postgresql://postgres@127.0.0.1:5432/{self.name}"

    def __enter__(self) -> str:
        if not self.given:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.name}"')
        return self.url

    def __exit__(self, *exc) -> None:
        if not self.given:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def ingest(service, data: np.ndarray, buckets: np.ndarray, batch: int) -> float:
    from kumo.vectorize.batch import VectorBatch

    service.create_index(ACCOUNT, INDEX, {"dimensions": data.shape[1], "metric": "cosine"})
    service.create_metadata_index(ACCOUNT, INDEX, "bucket", "number")
    t = time.perf_counter()
    for start in range(0, len(data), batch):
        stop = min(len(data), start + batch)
        metas = [{"bucket": int(buckets[i])} for i in range(start, stop)]
        ids = [str(i) for i in range(start, stop)]
        service.write(ACCOUNT, INDEX, VectorBatch(ids, data[start:stop], [None] * len(ids), metas), upsert=False)
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    from kumo.config import Settings

    defaults = Settings.model_fields
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dims", type=int, default=384)
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--noise", type=float, default=2.0)
    ap.add_argument("--queries", type=int, default=1000, help="queries per unfiltered measurement")
    ap.add_argument("--filtered-queries", type=int, default=200)
    ap.add_argument("--ef", default="40,100,160", help="ef_search values for both engines (comma-separated)")
    ap.add_argument("--m", type=int, default=defaults["vectorize_hnsw_m"].default)
    ap.add_argument("--ef-construction", type=int, default=defaults["vectorize_hnsw_ef_construction"].default)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1000, help="vectors per write (default 1000)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--database-url", default=None, help="default: a scratch database on 127.0.0.1, dropped after")
    args = ap.parse_args(argv)

    from kumo.storage.migrate import upgrade_postgres
    from kumo.storage.pg_vectors import PgVectorStore
    from kumo.storage.postgres import PostgresConnection, PostgresDatabase
    from kumo.storage.sqlite_vectors import SqliteVectorStore
    from kumo.vectorize.embedded import EmbeddedEngine
    from kumo.vectorize.pg_engine import PgVectorEngine
    from kumo.vectorize.query_rules import QueryOptions
    from kumo.vectorize.service import VectorizeService
    from kumo.vectorize.space import AnnParams

    efs = [int(x) for x in args.ef.split(",") if x.strip()]
    say("# kumo Vectorize: pgvector engine vs embedded engine\n")
    say(f"machine: {os.cpu_count()} cores ({cpu_model()}), shared with other work; Python {platform.python_version()}; "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}; load average at start {load_average()}")
    say(f"data: N={args.n:,} x {args.dims} dims, {args.clusters} clusters, noise={args.noise}, cosine, topK={TOP_K}; "
        f"HNSW M={args.m}, ef_construction={args.ef_construction} on both; {args.queries} queries per measurement\n")

    rng = np.random.default_rng(args.seed)
    centres = unit_centres(rng, args.clusters, args.dims)
    data = clustered(rng, centres, args.n, args.noise)
    queries = clustered(rng, centres, args.queries, args.noise)
    buckets = rng.integers(0, 100, args.n)
    truth = exact_topk(data, queries, TOP_K)
    ann = AnnParams(m=args.m, ef_construction=args.ef_construction, ef_search=efs[0])

    tmp = Path(tempfile.mkdtemp(prefix="kumo-bench-pgvector-"))
    with ScratchDatabase(args.database_url) as url:
        # -- the two services, built as Platform builds them
        sqlite_store = SqliteVectorStore(tmp / "vectorize.sqlite3")
        embedded = VectorizeService(sqlite_store, EmbeddedEngine(sqlite_store, tmp / "snapshots", ann))
        embedded.start()
        upgrade_postgres(url)
        db = PostgresDatabase(url)
        pg_engine = PgVectorEngine(PgVectorStore(db, args.m, args.ef_construction), ann)
        pgvector = VectorizeService(pg_engine.store, pg_engine)

        emb_write = ingest(embedded, data, buckets, args.batch)
        t = time.perf_counter()
        embedded.wait_for_ann(ACCOUNT, INDEX, timeout=24 * 3600)
        emb_ready = emb_write + time.perf_counter() - t
        say(f"embedded: {args.n:,} written in {emb_write:.1f}s ({args.n / emb_write:,.0f} vectors/s acknowledged)")
        pg_write = ingest(pgvector, data, buckets, args.batch)
        t = time.perf_counter()
        pgvector.wait_for_ann(ACCOUNT, INDEX)  # what the engine's builder does once the writes pause
        pg_build = time.perf_counter() - t
        pg_ready = pg_write + pg_build
        say(f"pgvector: {args.n:,} written in {pg_write:.1f}s ({args.n / pg_write:,.0f} vectors/s acknowledged, "
            f"binary COPY); HNSW graph built after in {pg_build:.1f}s: {args.n / pg_ready:,.0f} vectors/s end to end")
        from kumo.storage.transfer import copy_data_dir

        with ScratchDatabase(None) as migrate_url:
            t = time.perf_counter()
            copy_data_dir(tmp, migrate_url)
            migrate_time = time.perf_counter() - t
        say(f"kumo migrate --from (embedded data dir -> new database, COPY then graph): {args.n:,} vectors in "
            f"{migrate_time:.1f}s = {args.n / migrate_time:,.0f} vectors/s end to end")
        with db.transaction() as conn:
            conn.execute("ANALYZE vectorize_vectors")
            size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('vectorize_vectors'))").fetchone()[0]
        say(f"PostgreSQL table + indexes: {size}\n")

        space = embedded.engine._get(sqlite_store.get_index(ACCOUNT, INDEX)).space
        lists = [q.tolist() for q in queries]
        opts = QueryOptions(top_k=TOP_K)

        def runner(service):
            return lambda q: [int(m["id"]) for m in service.query(ACCOUNT, INDEX, vector=q, options=opts)["matches"]]

        import psycopg

        pk = pgvector.store.get_index(ACCOUNT, INDEX).pk
        raw_conn = psycopg.connect(url, autocommit=True)
        raw_cursor = pg_engine.store._cursor(PostgresConnection(raw_conn))
        raw_sql = (f"SELECT id FROM vectorize_vectors WHERE index_pk = {pk}"
                   f" ORDER BY embedding::vector({args.dims}) <=> %s LIMIT {TOP_K}")

        def raw_query(q):
            return [int(r[0]) for r in raw_cursor.execute(raw_sql, (q,)).fetchall()]

        rows, ratios = [], []
        for ef in efs:
            space.ann = dataclasses.replace(space.ann, ef_search=ef)
            pg_engine.ann = dataclasses.replace(pg_engine.ann, ef_search=ef)
            raw_conn.execute(f"SET hnsw.ef_search = {ef}")
            timed = interleaved({"embedded": (runner(embedded), lists), "pgvector": (runner(pgvector), lists),
                                 "raw SQL": (raw_query, queries)}, rounds=args.rounds)
            res = {name: (recall_at_k(out, truth), qps, lat) for name, (out, lat, qps) in timed.items()}
            for name in ("embedded", "pgvector", "raw SQL"):
                recall, qps, lat = res[name]
                rows.append([ef, name, f"{recall:.3f}", f"{qps:,.0f}", f"{pct_ms(lat, 50):.2f}", f"{pct_ms(lat, 99):.2f}"])
            ratios.append((ef, res["pgvector"][1] / res["embedded"][1], res["pgvector"][1] / res["raw SQL"][1]))
            say(f"ef_search={ef}: embedded recall {res['embedded'][0]:.3f} {res['embedded'][1]:,.0f} QPS; "
                f"pgvector recall {res['pgvector'][0]:.3f} {res['pgvector'][1]:,.0f} QPS; "
                f"raw SQL recall {res['raw SQL'][0]:.3f} {res['raw SQL'][1]:,.0f} QPS")
        raw_conn.close()

        # -- filtered: exact on both
        fq = queries[: args.filtered_queries]
        want_bucket = rng.integers(0, 100, len(fq))
        filtered_truth = []
        for q, b in zip(fq, want_bucket):
            members = np.flatnonzero(buckets == b)
            scores = data[members] @ q
            filtered_truth.append(set(members[np.argsort(-scores)[:TOP_K]].tolist()))
        frows = []
        for name, service in (("embedded", embedded), ("pgvector", pgvector)):
            def one(i, service=service):
                o = QueryOptions(top_k=TOP_K, filter={"bucket": int(want_bucket[i])})
                return [int(m["id"]) for m in service.query(ACCOUNT, INDEX, vector=fq[i].tolist(), options=o)["matches"]]
            timed = interleaved({name: (one, list(range(len(fq))))}, rounds=1)
            out, lat, qps = timed[name]
            exact = sum(set(o) == t for o, t in zip(out, filtered_truth))
            frows.append([name, f"{exact}/{len(fq)}", f"{qps:,.0f}", f"{pct_ms(lat, 50):.2f}", f"{pct_ms(lat, 99):.2f}"])

        say("\n## unfiltered, one query at a time (recall@10 vs numpy exact)\n")
        say(table(["ef_search", "engine", "recall@10", "QPS", "p50 ms", "p99 ms"], rows))
        say("\n" + "\n".join(f"at ef_search={ef}: pgvector engine / raw SQL QPS {raw:.2f}x; pgvector / embedded {r:.2f}x"
                              for ef, r, raw in ratios))
        say(f"\n## filtered `bucket == b` (~1 %), exact on both\n")
        say(table(["engine", "equal to exact top-10", "QPS", "p50 ms", "p99 ms"], frows))
        say(f"\ningest: embedded {args.n / emb_write:,.0f} vectors/s acknowledged (graph ready after {emb_ready:.0f}s), "
            f"pgvector {args.n / pg_write:,.0f} vectors/s acknowledged, {args.n / pg_ready:,.0f} vectors/s with its "
            f"graph built ({pg_ready:.0f}s); kumo migrate --from {args.n / migrate_time:,.0f} vectors/s")
        say(f"load average at end {load_average()}")
        embedded.close()
        db.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
