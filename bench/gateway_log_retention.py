"""The gateway log writer's cost per batch when a gateway has a log limit (`log_management`) and already holds
many logs: retention's count kept between batches (kumo.storage.log_counts) against counting the gateway's
logs in every batch (what kumo did before), in one run, on SQLite and on PostgreSQL.

    .venv/bin/python bench/gateway_log_retention.py [--logs 1000000] [--engines sqlite,postgres]
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from pathlib import Path

from kumo.gateway.logs import new_ulid
from kumo.gateway.store import LogRecord
from kumo.storage.log_counts import LogCounts
from kumo.storage.sql_gateway import SqlGatewayStore

ACCOUNT, GATEWAY = "acct", "gw"
LIMIT = {(ACCOUNT, GATEWAY): (10_000_000, "DELETE_OLDEST")}  # the most a gateway may keep
_seq = itertools.count()


def records(n: int) -> list[LogRecord]:
    out = []
    for _ in range(n):
        i = next(_seq)
        created = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1_764_000_000 + i // 1000)) + f".{i % 1000:03d}Z"
        out.append(LogRecord(id=new_ulid(), account=ACCOUNT, gateway=GATEWAY, created_at=created, provider="openai",
                             model="gpt-4o-mini", path="chat/completions", status_code=200, success=True,
                             cached=False, duration=50, tokens_in=13, tokens_out=7, cost=0.00001,
                             request_body=b'{"model":"gpt-4o-mini"}', response_body=b'{"choices":[]}'))
    return out


class AlwaysStale(LogCounts):
    """Counting in every batch, as before the counts were kept."""

    def __init__(self):
        super().__init__(clock=lambda: time.monotonic() * 1e9)


def open_store(engine: str, workdir: Path):
    if engine == "sqlite":
        from kumo.storage.sqlite import SqliteDatabase

        return SqlGatewayStore(SqliteDatabase(workdir / "gateway.sqlite3", branch="gateway")), None
    from kumo.storage.migrate import upgrade_postgres
    from kumo.storage.postgres import PostgresDatabase

    url = os.environ.get("KUMO_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
    upgrade_postgres(url)
    db = PostgresDatabase(url)
    with db.transaction() as conn:  # an earlier run's rows
        conn.execute("DELETE FROM gateway_logs WHERE account = ?", (ACCOUNT,))
        conn.execute("DELETE FROM gateway_rollups WHERE account = ?", (ACCOUNT,))
    return SqlGatewayStore(db), db


def per_batch_ms(store: SqlGatewayStore, batch: int, batches: int) -> float:
    started = time.thread_time()
    for _ in range(batches):
        store.write_logs(records(batch), LIMIT)
    return (time.thread_time() - started) * 1000 / batches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--logs", type=int, default=1_000_000, help="logs the gateway holds before the measurement")
    ap.add_argument("--batch", type=int, default=150, help="logs per batch (the writer commits once a second)")
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--engines", default="sqlite,postgres")
    args = ap.parse_args()
    print(f"{args.logs:,} logs held, limit 10,000,000 DELETE_OLDEST, batches of {args.batch}; "
          f"CPU of this process (SQLite's work included; PostgreSQL's server not)")
    for engine in args.engines.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            store, db = open_store(engine, Path(tmp))
            started = time.monotonic()
            for done in range(0, args.logs, 20_000):
                store.write_logs(records(min(20_000, args.logs - done)), {})
                print(f"\r  {engine}: loading {done + 20_000:,} logs", end="", flush=True)
            print(f" ({time.monotonic() - started:.0f} s)")
            store.log_counts = AlwaysStale()
            wall = time.monotonic()
            before = per_batch_ms(store, args.batch, args.batches)
            before_wall = (time.monotonic() - wall) * 1000 / args.batches
            store.log_counts = LogCounts()
            wall = time.monotonic()
            after = per_batch_ms(store, args.batch, args.batches)
            after_wall = (time.monotonic() - wall) * 1000 / args.batches
            print(f"  {engine}: counted in every batch {before:.1f} ms CPU ({before_wall:.1f} ms wall) per batch; "
                  f"count kept {after:.1f} ms CPU ({after_wall:.1f} ms wall); {before_wall / after_wall:.1f}x")
            if db is not None:
                db.close()


if __name__ == "__main__":
    main()
