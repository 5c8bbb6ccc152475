"""Vectorize query benchmark: kumo's in-process query path against numpy and raw hnswlib.

What it measures, in one run, on N clustered synthetic vectors (384 dims, cosine, topK=10):

* numpy exact search (a BLAS mat-vec + argpartition per query): the ground truth, and its QPS;
* raw hnswlib built with kumo's M / ef_construction, queried one vector at a time with kumo's
  ef_search: recall@10 and QPS;
* kumo: `VectorSpace.query(...)` (the engine) and `VectorizeService.query(...)` (the engine plus
  validation, the index lookup in SQLite, result shaping) on an index written through
  `VectorizeService.write` and left to the background indexer (`wait_for_ann`): recall@10, QPS and
  the ratio kumo QPS / raw hnswlib QPS;
* an ef_search sweep for raw hnswlib and kumo, and which ef first reaches recall@10 >= 0.98;
* filtered queries through a metadata index at 1 % (number equality) and 50 % (string equality)
  selectivity: p50/p99 latency, and whether the results equal numpy's exact filtered top-10;
* the process RSS (VmRSS) after each structure is loaded;
* over HTTP (`--http`, on by default), with `kumo serve` in its own process and the same data loaded through
  `insert`: acknowledged ingest, how long queries wait while the graph is built behind the load (and their
  latency meanwhile), then one client interleaved with raw hnswlib and the in-process service, eight
  client processes at once, raw hnswlib on two threads, and the filtered cases; with the server's
  whole-process CPU per query (utime + stime over the queries served).

Data: `--clusters` gaussian cluster centres on the unit sphere; each point is a random centre plus
gaussian noise of expected norm `--noise`, normalised. Queries are drawn the same way but are not in
the data set (uniform random vectors would make recall meaningless).

All query loops are single-threaded: one query at a time, hnswlib with num_threads=1. numpy's BLAS
uses its default thread count (set OPENBLAS_NUM_THREADS=1 to pin it).

Run:  .venv/bin/python bench/vectorize_query.py              # N=100,000 (a few minutes on 2 cores)
      .venv/bin/python bench/vectorize_query.py --n 1000000  # possible, but takes a long while
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import importlib.metadata
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import hnswlib
import numpy as np

from _harness import cpu_model, load_average, proc_status, say, table
from _vectors import TOP_K, clustered, exact_topk, interleaved, pct_ms, recall_at_k, timed_loop, unit_centres

ACCOUNT = "bench-account"
INDEX = "bench-query"
TARGET_RECALL = 0.98


# ---- the benchmark --------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    from kumo.config import Settings

    defaults = Settings.model_fields
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="vectors in the index (default 100,000)")
    ap.add_argument("--dims", type=int, default=384)
    ap.add_argument("--clusters", type=int, default=1000, help="gaussian cluster centres (default 1000)")
    ap.add_argument("--noise", type=float, default=2.0,
                    help="expected norm of the noise added to a centre before normalising (default 2.0; 1.5 is easy, 2.5 is close to uniform)")
    ap.add_argument("--queries", type=int, default=2000, help="queries per ANN measurement (default 2000)")
    ap.add_argument("--exact-queries", type=int, default=200, help="queries timed for numpy exact search")
    ap.add_argument("--filtered-queries", type=int, default=300, help="queries per filtered measurement")
    ap.add_argument("--m", type=int, default=defaults["vectorize_hnsw_m"].default)
    ap.add_argument("--ef-construction", type=int, default=defaults["vectorize_hnsw_ef_construction"].default)
    ap.add_argument("--ef-search", type=int, default=defaults["vectorize_hnsw_ef_search"].default,
                    help="kumo's ef_search for the headline comparison (default: kumo's setting)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="times each ANN query set is run (paths interleaved chunk by chunk; default 3)")
    ap.add_argument("--sweep", default="32,48,64,96,128,160,256", help="ef_search values to sweep (comma-separated)")
    ap.add_argument("--build-threads", type=int, default=1,
                    help="threads for the raw hnswlib build (default 1, like kumo's indexer: same seed and order "
                         "then give the same graph)")
    ap.add_argument("--batch", type=int, default=1000, help="vectors per kumo write (default 1000)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    ap.add_argument("--no-http", dest="http", action="store_false", help="skip the HTTP measurements")
    ap.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients (processes; default 8)")
    ap.add_argument("--floor", action="store_true",
                    help="also serve the raw index from bench/vectorize_floor.py (a bare ASGI app) to 1 and --clients "
                         "clients: what any single Python process gives its clients on this machine")
    args = ap.parse_args(argv)

    from kumo.storage.sqlite_vectors import SqliteVectorStore
    from kumo.vectorize.batch import VectorBatch
    from kumo.vectorize.embedded import EmbeddedEngine
    from kumo.vectorize.query_rules import QueryOptions
    from kumo.vectorize.service import VectorizeService
    from kumo.vectorize.space import AnnParams

    sweep = sorted({int(x) for x in args.sweep.split(",") if x.strip()} | {args.ef_search})
    say(f"# kumo Vectorize query benchmark\n")
    say(f"machine: {os.cpu_count()} cores ({cpu_model()}), Python {platform.python_version()}, numpy {np.__version__}, "
        f"hnswlib {importlib.metadata.version('hnswlib')}; {time.strftime('%Y-%m-%d %H:%M %Z')}; "
        f"load average at start {load_average()}")
    say(f"data: N={args.n:,} x {args.dims} dims, {args.clusters} clusters, noise={args.noise}, cosine, topK={TOP_K}; "
        f"HNSW M={args.m}, ef_construction={args.ef_construction}, kumo ef_search={args.ef_search}; "
        f"{args.queries} queries per ANN loop\n")
    rss0 = proc_status("self")

    # -- data and ground truth
    t = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    centres = unit_centres(rng, args.clusters, args.dims)
    data = clustered(rng, centres, args.n, args.noise)
    queries = clustered(rng, centres, args.queries, args.noise)
    buckets = rng.integers(0, 100, args.n)  # number metadata: `bucket == b` selects ~1 %
    halves = rng.integers(0, 2, args.n)  # string metadata: `half == "a"` selects ~50 %
    truth = exact_topk(data, queries, TOP_K)
    rss_data = proc_status("self")
    say(f"generated data + ground truth in {time.perf_counter() - t:.1f}s; RSS {rss_data:,.0f} MiB")

    # -- (a) numpy exact, one query at a time
    def numpy_exact(q):
        scores = data @ q
        part = np.argpartition(-scores, TOP_K - 1)[:TOP_K]
        return part[np.argsort(-scores[part])].tolist()

    ex_q = queries[: args.exact_queries]
    ex_res, ex_lat, ex_wall = timed_loop(numpy_exact, ex_q)
    ex_recall = recall_at_k(ex_res, truth[: len(ex_q)])
    exact_row = ["numpy exact (BLAS scan)", ex_recall, len(ex_q) / ex_wall, pct_ms(ex_lat, 50), pct_ms(ex_lat, 99)]
    say(f"numpy exact: {len(ex_q) / ex_wall:,.1f} QPS")

    # -- (b) raw hnswlib
    t = time.perf_counter()
    raw = hnswlib.Index(space="cosine", dim=args.dims)
    raw.init_index(max_elements=args.n, M=args.m, ef_construction=args.ef_construction)
    raw.add_items(data, np.arange(args.n), num_threads=args.build_threads)
    raw_build = time.perf_counter() - t
    rss_raw = proc_status("self")
    say(f"raw hnswlib built in {raw_build:.1f}s ({args.n / raw_build:,.0f} vectors/s, {args.build_threads} thread(s)); "
        f"RSS +{rss_raw - rss_data:,.0f} MiB")

    def raw_query(q):
        labels, _ = raw.knn_query(q, k=TOP_K, num_threads=1)
        return labels[0].tolist()

    # -- (c) kumo: a VectorizeService on a temp data dir, written through it, graph built behind
    tmp = Path(tempfile.mkdtemp(prefix="kumo-bench-query-"))
    settings = Settings(data_dir=tmp, vectorize_hnsw_m=args.m, vectorize_hnsw_ef_construction=args.ef_construction,
                        vectorize_hnsw_ef_search=args.ef_search)
    # the Vectorize part of kumo.platform.Platform, built alone (the Platform also starts other products)
    store = SqliteVectorStore(tmp / "vectorize.sqlite3")
    service = VectorizeService(store, EmbeddedEngine(store, tmp / "vectorize-snapshots", AnnParams(
        threshold=settings.vectorize_ann_threshold, m=settings.vectorize_hnsw_m,
        ef_construction=settings.vectorize_hnsw_ef_construction, ef_search=settings.vectorize_hnsw_ef_search)))
    service.start()  # the background graph builder
    service.create_index(ACCOUNT, INDEX, {"dimensions": args.dims, "metric": "cosine"})
    service.create_metadata_index(ACCOUNT, INDEX, "bucket", "number")
    service.create_metadata_index(ACCOUNT, INDEX, "half", "string")
    ids = [str(i) for i in range(args.n)]
    t = time.perf_counter()
    for start in range(0, args.n, args.batch):
        stop = min(args.n, start + args.batch)
        metas = [{"bucket": int(buckets[i]), "half": "ab"[halves[i]]} for i in range(start, stop)]
        batch = VectorBatch(ids[start:stop], data[start:stop], [None] * (stop - start), metas)
        service.write(ACCOUNT, INDEX, batch, upsert=False)
    kumo_write = time.perf_counter() - t
    service.wait_for_ann(ACCOUNT, INDEX, timeout=24 * 3600)
    kumo_ready = time.perf_counter() - t
    loaded = service.engine._get(store.get_index(ACCOUNT, INDEX))
    space = loaded.space
    rss_kumo = proc_status("self")
    say(f"kumo: {args.n:,} vectors written in {kumo_write:.1f}s ({args.n / kumo_write:,.0f} vectors/s acknowledged, "
        f"SQLite synchronous=FULL), graph caught up after {kumo_ready:.1f}s; RSS +{rss_kumo - rss_raw:,.0f} MiB")
    if space.hnsw is None:
        say(f"note: N={args.n} is below vectorize_ann_threshold ({space.ann.threshold}); kumo answers by exact scan")

    def space_query(q):
        return [int(space.ids[m.slot]) for m in space.query(q, TOP_K)]

    opts = QueryOptions(top_k=TOP_K)
    query_lists = [q.tolist() for q in queries]  # what the HTTP layer hands the service

    def service_query(qlist):
        return [int(m["id"]) for m in service.query(ACCOUNT, INDEX, vector=qlist, options=opts)["matches"]]

    def set_kumo_ef(ef: int) -> None:
        space.ann = dataclasses.replace(space.ann, ef_search=ef)

    # -- (d) the same index over HTTP: kumo serve in its own process, loaded through `insert`
    server = client = None
    http_rows: list[list] = []
    if args.http:
        import orjson
        from vectorize_http import Client, Server, beside_floor, concurrent_queries, ids_of

        server = Server(tmp / "http", env={
            "KUMO_VECTORIZE_HNSW_M": str(args.m), "KUMO_VECTORIZE_HNSW_EF_CONSTRUCTION": str(args.ef_construction),
            "KUMO_VECTORIZE_HNSW_EF_SEARCH": str(args.ef_search)})
        client = Client(server.port)
        base = f"/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes"
        client.json("POST", base, {"name": INDEX, "config": {"dimensions": args.dims, "metric": "cosine"}})
        for prop, kind in (("bucket", "number"), ("half", "string")):
            client.json("POST", f"{base}/{INDEX}/metadata_index/create", {"propertyName": prop, "indexType": kind})
        bodies = []
        for start in range(0, args.n, args.batch):
            stop = min(args.n, start + args.batch)
            bodies.append(b"\n".join(orjson.dumps({
                "id": ids[i], "values": data[i].tolist(), "metadata": {"bucket": int(buckets[i]), "half": "ab"[halves[i]]},
            }) for i in range(start, stop)))
        cpu0, t = server.cpu_seconds(), time.perf_counter()
        for body in bodies:
            status, payload = client.request("POST", f"{base}/{INDEX}/insert", body)
            assert status == 200, payload
        http_write = time.perf_counter() - t
        http_write_cpu = server.cpu_seconds() - cpu0
        del bodies
        # right after the load the graph is still being built: how long, and what queries see meanwhile
        probe_lat, probes, t = [], 0, time.perf_counter()
        progress = []
        while True:
            info = client.json("GET", f"{base}/{INDEX}/info")
            graph = info.get("kumoGraph")
            progress.append((time.perf_counter() - t, graph))
            if graph is None or graph["pendingVectors"] == 0:  # None: below the ANN threshold, no graph to build
                break
            for _ in range(20):
                body = orjson.dumps({"vector": query_lists[probes % len(query_lists)], "topK": TOP_K})
                s0 = time.perf_counter()
                client.request("POST", f"{base}/{INDEX}/query", body)
                probe_lat.append(time.perf_counter() - s0)
                probes += 1
        http_ready = time.perf_counter() - t
        probe_lat = np.array(probe_lat) if probe_lat else np.array([float("nan")])
        say(f"HTTP: {args.n:,} vectors inserted in {http_write:.1f}s ({args.n / http_write:,.0f} vectors/s acknowledged, "
            f"server CPU {http_write_cpu:.1f}s); graph complete {http_ready:.1f}s after the last insert; "
            f"{probes} queries meanwhile, p50 {pct_ms(probe_lat, 50):.1f} ms, p99 {pct_ms(probe_lat, 99):.1f} ms; "
            f"server RSS {server.rss_mb():,.0f} MiB")
        query_path = f"{base}/{INDEX}/query"
        query_bodies = [orjson.dumps({"vector": q, "topK": TOP_K}) for q in query_lists]

        def http_query(i):
            status, payload = client.request("POST", query_path, query_bodies[i])
            return ids_of(payload)

    # -- ef sweep (includes kumo's setting, which is the headline)
    sweep_rows, results = [], {}
    for ef in sweep:
        raw.set_ef(ef)
        set_kumo_ef(ef)
        timed = interleaved({
            "raw": (raw_query, queries), "space": (space_query, queries), "service": (service_query, query_lists),
        }, rounds=args.rounds)
        res = results[ef] = {name: (recall_at_k(out, truth), qps, lat) for name, (out, lat, qps) in timed.items()}
        sweep_rows.append([
            ef, res["raw"][0], res["raw"][1], res["space"][0], res["space"][1], res["service"][0], res["service"][1],
            f"{res['space'][1] / res['raw'][1]:.0%}", f"{res['service'][1] / res['raw'][1]:.0%}",
        ])
        say(f"ef={ef}: raw {res['raw'][1]:,.0f} QPS r={res['raw'][0]:.4f} | space {res['space'][1]:,.0f} QPS "
            f"r={res['space'][0]:.4f} | service {res['service'][1]:,.0f} QPS r={res['service'][0]:.4f}")
    set_kumo_ef(args.ef_search)

    # raw hnswlib with the whole batch in one C++ call: the floor for per-query Python overhead
    raw.set_ef(args.ef_search)
    batched = []
    for _ in range(args.rounds):
        t = time.perf_counter()
        labels, _ = raw.knn_query(queries, k=TOP_K, num_threads=1)
        batched.append(time.perf_counter() - t)
    raw_batched_qps = len(queries) / float(np.median(batched))
    raw_batched_recall = recall_at_k(labels.tolist(), truth)

    # -- over HTTP at kumo's ef_search: one client interleaved with raw and in-process, then raw on 2 threads,
    # then `--clients` client processes at once
    if server is not None:
        qidx = list(range(len(queries)))
        cpu0 = server.cpu_seconds()
        timed = interleaved({"raw": (raw_query, queries), "service": (service_query, query_lists),
                             "http": (http_query, qidx)}, rounds=args.rounds)
        http_cpu1 = (server.cpu_seconds() - cpu0) / (len(queries) * args.rounds) * 1000
        one = {name: (recall_at_k(out, truth), qps, lat) for name, (out, lat, qps) in timed.items()}
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            list(pool.map(raw_query, queries[:50]))
            t = time.perf_counter()
            raw2_res = list(pool.map(raw_query, queries))
            raw2_qps = len(queries) / (time.perf_counter() - t)
        many = concurrent_queries(server, query_path, query_bodies, args.clients)
        many_recall = recall_at_k(many["results"], truth)
        floor_rows = []
        if args.floor:  # the same client processes against kumo and the floor, one client then --clients
            raw.save_index(str(tmp / "floor.hnsw"))
            floor_rows = beside_floor(server, tmp / "floor.hnsw", args.dims, args.ef_search, query_path, query_bodies,
                                      args.clients, truth)
        raw1 = one["raw"][1]
        http_rows = [
            ["raw hnswlib knn_query, one query at a time", one["raw"][0], raw1, pct_ms(one["raw"][2], 50),
             pct_ms(one["raw"][2], 99), "", "100%"],
            ["raw hnswlib, 2 threads", recall_at_k(raw2_res, truth), raw2_qps, float("nan"), float("nan"), "",
             f"{raw2_qps / raw1:.0%}"],
            ["kumo VectorizeService.query in process", one["service"][0], one["service"][1],
             pct_ms(one["service"][2], 50), pct_ms(one["service"][2], 99), "", f"{one['service'][1] / raw1:.0%}"],
            ["kumo `query` over HTTP, 1 client", one["http"][0], one["http"][1], pct_ms(one["http"][2], 50),
             pct_ms(one["http"][2], 99), http_cpu1, f"{one['http'][1] / raw1:.0%}"],
            [f"kumo `query` over HTTP, {args.clients} clients", many_recall, many["qps"], pct_ms(many["lat"], 50),
             pct_ms(many["lat"], 99), many["cpu_ms"], f"{many['qps'] / raw1:.0%}"],
        ]
        http_added = pct_ms(one["http"][2], 50) - pct_ms(one["service"][2], 50)
        say(f"HTTP ef={args.ef_search}: 1 client {one['http'][1]:,.0f} QPS r={one['http'][0]:.4f} "
            f"(+{http_added:.2f} ms p50 over in-process, {http_cpu1:.2f} ms server CPU/query); "
            f"{args.clients} clients {many['qps']:,.0f} QPS r={many_recall:.4f} ({many['cpu_ms']:.2f} ms CPU/query); "
            f"raw {raw1:,.0f} QPS, raw 2 threads {raw2_qps:,.0f} QPS")

    # -- filtered queries (always exact in kumo) vs numpy's exact filtered top-10
    fq = queries[: args.filtered_queries]
    fq_lists = query_lists[: args.filtered_queries]
    f_rng = np.random.default_rng(args.seed + 1)
    bucket_of_query = f_rng.integers(0, 100, len(fq))
    half_of_query = f_rng.integers(0, 2, len(fq))
    filter_cases = {
        "1 % (number: bucket == b)": (
            lambda i: {"bucket": int(bucket_of_query[i])}, lambda i: buckets == bucket_of_query[i]),
        "50 % (string: half == 'a'|'b')": (
            lambda i: {"half": "ab"[half_of_query[i]]}, lambda i: halves == half_of_query[i]),
    }
    filter_rows = []
    for label, (make_filter, make_mask) in filter_cases.items():
        masks = [make_mask(i) for i in range(len(fq))]
        filters = [make_filter(i) for i in range(len(fq))]
        selectivity = float(np.mean([m.mean() for m in masks]))

        def numpy_filtered(i):
            mask = masks[i]
            if selectivity < 0.25:  # gather the matching rows and scan them
                rows = np.flatnonzero(mask)
                scores = data[rows] @ fq[i]
            else:  # scan everything, then mask (cheaper than copying half the matrix)
                rows = None
                scores = np.where(mask, data @ fq[i], -np.inf)
            k = min(TOP_K, int(mask.sum()))
            part = np.argpartition(-scores, k - 1)[:k]
            best = part[np.argsort(-scores[part])]
            return (best if rows is None else rows[best]).tolist()

        def kumo_filtered(i):
            out = service.query(ACCOUNT, INDEX, vector=fq_lists[i], options=QueryOptions(top_k=TOP_K, filter=filters[i]))
            return [int(m["id"]) for m in out["matches"]]

        idx = list(range(len(fq)))
        paths = {"numpy": (numpy_filtered, idx), "kumo": (kumo_filtered, idx)}
        if server is not None:
            f_bodies = [orjson.dumps({"vector": fq_lists[i], "topK": TOP_K, "filter": filters[i]}) for i in idx]

            def http_filtered(i):
                status, payload = client.request("POST", query_path, f_bodies[i])
                return ids_of(payload)

            paths["http"] = (http_filtered, idx)
        cpu0 = server.cpu_seconds() if server is not None else 0.0
        timed = interleaved(paths, rounds=1, chunk=50)
        (n_res, n_lat, _), (k_res, k_lat, _) = timed["numpy"], timed["kumo"]

        def mismatches_of(found) -> int:
            wrong = 0
            for i, (want, got) in enumerate(zip(n_res, found)):
                if want == got:
                    continue
                # tolerate only exact ties (equal float64 scores) at the boundary
                q64 = fq[i].astype(np.float64)
                sw = np.sort(data[want].astype(np.float64) @ q64)
                sg = np.sort(data[got].astype(np.float64) @ q64) if got else np.zeros(0)
                if len(sw) != len(sg) or not np.allclose(sw, sg, rtol=0, atol=1e-9):
                    wrong += 1
            return wrong

        mismatches = mismatches_of(k_res)
        row = [label, f"{selectivity:.1%}", pct_ms(n_lat, 50), len(fq) / n_lat.sum(), pct_ms(k_lat, 50),
               len(fq) / k_lat.sum(), f"{len(fq) - mismatches}/{len(fq)}"]
        if server is not None:
            h_res, h_lat, _ = timed["http"]
            h_cpu = (server.cpu_seconds() - cpu0) / len(fq) * 1000
            h_wrong = mismatches_of(h_res)
            row += [pct_ms(h_lat, 50), pct_ms(h_lat, 99), len(fq) / h_lat.sum(), h_cpu, f"{len(fq) - h_wrong}/{len(fq)}"]
            say(f"filtered {label} over HTTP: {len(fq) / h_lat.sum():,.0f} QPS, p50 {pct_ms(h_lat, 50):.2f} ms, "
                f"exact {len(fq) - h_wrong}/{len(fq)}")
        filter_rows.append(row)
        say(f"filtered {label}: kumo p50 {pct_ms(k_lat, 50):.2f} ms, exact {len(fq) - mismatches}/{len(fq)}")

    # -- report
    head = results[args.ef_search]
    say("\n## Unfiltered top-10, one query at a time (kumo's ef_search = %d)\n" % args.ef_search)
    rows = [exact_row]
    for key, label in (("raw", "raw hnswlib knn_query"), ("space", "kumo VectorSpace.query"),
                       ("service", "kumo VectorizeService.query")):
        recall, qps, lat = head[key]
        rows.append([label, recall, qps, pct_ms(lat, 50), pct_ms(lat, 99)])
    rows.append(["raw hnswlib, all queries in one call", raw_batched_recall, raw_batched_qps, float("nan"), float("nan")])
    raw_qps = head["raw"][1]
    for r in rows:
        r.append(f"{r[2] / raw_qps:.0%}")
    say(table(["path", "recall@10", "QPS", "p50 ms", "p99 ms", "QPS vs raw hnswlib"], rows))

    say("\n## ef_search sweep (recall@10 / QPS; ratio = kumo QPS / raw hnswlib QPS)\n")
    say(table(["ef_search", "raw recall", "raw QPS", "space recall", "space QPS", "service recall", "service QPS",
               "space/raw", "service/raw"], sweep_rows))
    ok = [ef for ef in sweep if results[ef]["service"][0] >= TARGET_RECALL and results[ef]["space"][0] >= TARGET_RECALL]
    raw_ok = [ef for ef in sweep if results[ef]["raw"][0] >= TARGET_RECALL]
    if ok:
        ef = ok[0]
        r = results[ef]
        say(f"\nsmallest swept ef_search with kumo recall@10 >= {TARGET_RECALL}: **{ef}** "
            f"(service recall {r['service'][0]:.4f}, {r['service'][1]:,.0f} QPS = {r['service'][1] / r['raw'][1]:.0%} "
            f"of raw hnswlib at the same ef; VectorSpace {r['space'][1] / r['raw'][1]:.0%})")
    else:
        say(f"\nno swept ef_search reaches kumo recall@10 >= {TARGET_RECALL}; try larger values with --sweep")
    if raw_ok:
        say(f"smallest swept ef_search with raw hnswlib recall@10 >= {TARGET_RECALL}: {raw_ok[0]}")

    say("\n## Filtered top-10 through a metadata index (kumo scans the matching vectors exactly)\n")
    headers = ["filter (selectivity)", "share", "numpy p50 ms", "numpy QPS", "in-process p50 ms", "in-process QPS",
               "in-process equal to numpy"]
    if server is not None:
        headers += ["HTTP p50 ms", "HTTP p99 ms", "HTTP QPS (1 client)", "server CPU ms/query", "HTTP equal to numpy"]
    say(table(headers, filter_rows))

    if server is not None:
        say("\n## Over HTTP: kumo serve in its own process, clients in this one (ef_search = %d)\n" % args.ef_search)
        say(table(["path", "recall@10", "QPS", "p50 ms", "p99 ms", "server CPU ms/query", "QPS vs raw hnswlib"],
                  http_rows))
        say(f"\nkumo over HTTP adds {http_added:.2f} ms p50 to the in-process service; {args.clients} clients reach "
            f"{many['qps'] / one['http'][1]:.2f}x one client.")
        if floor_rows:
            say(f"\nkumo beside the floor (bench/vectorize_floor.py: the raw index behind a bare ASGI app), the same "
                f"client processes, 1 then {args.clients}:\n")
            say(table(["server", "recall@10", "QPS, 1 client", "p50 ms", "server CPU ms/query",
                       f"QPS, {args.clients} clients", "p50 ms", "server CPU ms/query", "scaling"], floor_rows))
        say(f"\nload over HTTP: {args.n:,} vectors in {http_write:.1f}s = {args.n / http_write:,.0f} vectors/s acknowledged "
            f"(NDJSON bodies of {args.batch}, one client); graph complete {http_ready:.1f}s after the last insert "
            f"({probes} queries meanwhile: p50 {pct_ms(probe_lat, 50):.1f} ms, p99 {pct_ms(probe_lat, 99):.1f} ms)")
        client.close()
        server.stop()

    say("\n## Build and memory\n")
    say(table(["item", "value"], [
        ["raw hnswlib build (add_items, %d thread)" % args.build_threads, f"{raw_build:.1f} s ({args.n / raw_build:,.0f} vectors/s)"],
        ["kumo service.write, %d per batch (acknowledged)" % args.batch, f"{kumo_write:.1f} s ({args.n / kumo_write:,.0f} vectors/s)"],
        ["kumo graph caught up (from first write)", f"{kumo_ready:.1f} s ({args.n / kumo_ready:,.0f} vectors/s)"],
        ["RSS: interpreter + imports", f"{rss0:,.0f} MiB"],
        ["RSS: + data set, queries, ground truth", f"{rss_data:,.0f} MiB (+{rss_data - rss0:,.0f})"],
        ["RSS: + raw hnswlib index", f"{rss_raw:,.0f} MiB (+{rss_raw - rss_data:,.0f})"],
        ["RSS: + kumo index loaded (matrix, graph, metadata, SQLite)", f"{rss_kumo:,.0f} MiB (+{rss_kumo - rss_raw:,.0f})"],
        ["raw float32 vectors alone", f"{data.nbytes / 2**20:,.0f} MiB"],
    ]))

    say(f"\nload average at the end: {load_average()} (on a busy machine every figure above is lower)")
    service.close()
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        say(f"\ndata dir kept: {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
