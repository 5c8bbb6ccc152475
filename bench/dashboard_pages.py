"""Dashboard pages with 1M gateway log rows: server time of each page a team opens all day (analytics over every
window, the log explorer with each filter, a log's detail), over real HTTP against `kumo serve`, on SQLite and on
PostgreSQL. The target is < 200 ms per page.

    python bench/dashboard_pages.py [--rows 1000000] [--database-url postgresql://...]

The rows go in through the gateway store's own write path (so rollups are made as they are in production),
spread over 30 days, 4 providers, 8 models, 2 % errors, 10 % cache hits, metadata on half of them.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from _harness import KumoServer  # noqa: E402
from kumo.gateway.logs import new_ulid  # noqa: E402
from kumo.gateway.store import LogRecord  # noqa: E402

ACCOUNT, GATEWAY = "bench", "prod"
MODELS = [("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("anthropic", "claude-3-5-haiku-latest"),
          ("anthropic", "claude-sonnet-4"), ("google-ai-studio", "gemini-2.0-flash"), ("groq", "llama-3.1-8b"),
          ("groq", "mixtral-8x7b"), ("openai", "o3-mini")]


def fill(store, rows: int, batch: int = 5000) -> float:
    now = datetime.now(timezone.utc)
    rng = random.Random(7)
    started = time.perf_counter()
    store.create_gateway(ACCOUNT, GATEWAY, {"collect_logs": True, "cache_ttl": None, "cache_invalidate_on_update": False,
                                            "rate_limiting_interval": None, "rate_limiting_limit": None}, now.isoformat())
    for start in range(0, rows, batch):
        records = []
        for i in range(start, min(start + batch, rows)):
            at = now - timedelta(seconds=30 * 86400 * (1 - i / rows))  # oldest first, as they would arrive
            provider, model = MODELS[rng.randrange(len(MODELS))]
            failed = rng.random() < 0.02
            tokens_in, tokens_out = rng.randint(10, 2000), rng.randint(1, 800)
            records.append(LogRecord(
                id=new_ulid(), account=ACCOUNT, gateway=GATEWAY,
                created_at=at.isoformat(timespec="milliseconds").replace("+00:00", "Z"), provider=provider,
                model=model, path="chat/completions", status_code=rng.choice((429, 500, 400)) if failed else 200,
                success=not failed, cached=rng.random() < 0.1, duration=int(rng.lognormvariate(6, 0.8)),
                tokens_in=tokens_in, tokens_out=tokens_out, cost=(tokens_in * 0.15 + tokens_out * 0.6) / 1e6,
                metadata={"team": rng.choice(("blue", "red", "green"))} if i % 2 else {},
                request_body=b'{"messages":[{"role":"user","content":"hello"}]}', response_body=b'{"choices":[]}'))
        store.write_logs(records, {})
        if start % 100_000 == 0:
            print(f"  {start + len(records):,} rows", flush=True)
    return time.perf_counter() - started


def access_lines(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if "kumo.access" in line]


def server_ms(log: Path, seen: int) -> float:
    """The server's own time for the request after the `seen` access lines so far (…" 200 1234B 12.3ms): the
    line is written just after the response is sent."""
    for _ in range(500):
        lines = access_lines(log)
        if len(lines) > seen:
            return float(re.search(r"([\d.]+)ms$", lines[seen]).group(1))
        time.sleep(0.01)
    raise LookupError("no access line")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url")
    parser.add_argument("--data-dir", help="reuse a data dir filled by an earlier run")
    args = parser.parse_args()
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="kumo-dash-bench-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")}
    if args.database_url:
        env["KUMO_DATABASE_URL"] = args.database_url
    if not (data_dir / ".filled").exists():
        if args.database_url:
            from kumo.storage.migrate import upgrade_postgres
            from kumo.storage.postgres import PostgresDatabase

            upgrade_postgres(args.database_url)
            db = PostgresDatabase(args.database_url)
        else:
            from kumo.storage.sqlite import SqliteDatabase

            db = SqliteDatabase(data_dir / "gateway.sqlite3", branch="gateway", synchronous="NORMAL")
        from kumo.storage.sql_gateway import SqlGatewayStore

        print(f"writing {args.rows:,} log rows through the store ({'PostgreSQL' if args.database_url else 'SQLite'})")
        seconds = fill(SqlGatewayStore(db), args.rows)
        print(f"  written in {seconds:.0f} s ({args.rows / seconds:,.0f} rows/s, rollups included)")
        db.close()
        (data_dir / ".filled").touch()
    log = data_dir / "server.log"
    server = KumoServer(data_dir, {k: env[k] for k in ("PYTHONPATH", "KUMO_DATABASE_URL") if k in env}, log_level=None,
                        log_path=log, startup=60)  # kumo's default level: the access lines carry the server's time
    url = server.url
    try:
        client = httpx.Client(base_url=url, headers={"origin": url}, timeout=120)
        client.post("/dashboard/sign-in", data={"account": ACCOUNT})
        base = f"/dashboard/{ACCOUNT}/ai-gateway/{GATEWAY}"
        first = client.get(base + "/logs").text
        log_id = re.search(r"log=([0-9A-Z]{26})", first).group(1)
        older = re.search(r'href="\?(before=[^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
        pages = {
            "analytics 1h": base + "?window=1h", "analytics 24h": base + "?window=24h",
            "analytics 7d": base + "?window=7d", "analytics 30d": base + "?window=30d",
            "logs, newest": base + "/logs", "logs, next page": base + "/logs?" + older,
            "logs, errors": base + "/logs?status=errors", "logs, status 429": base + "/logs?status=429",
            "logs, provider": base + "/logs?provider=groq", "logs, model": base + "/logs?model=o3-mini",
            "logs, cached": base + "/logs?cached=true", "logs, cost >= $0.0012": base + "/logs?min_cost=0.0012",
            "logs, duration >= 3000": base + "/logs?min_duration=3000",
            "logs, metadata team=red": base + "/logs?meta_key=team&meta_value=red",
            "logs, errors + model": base + "/logs?status=errors&model=gpt-4o",
            "log detail": base + f"/logs?log={log_id}", "gateways list": f"/dashboard/{ACCOUNT}/ai-gateway",
        }
        print(f"\n{'page':28} {'server ms (median of 5)':>24} {'max':>8}")
        worst = 0.0
        for name, path in pages.items():
            times = []
            for _ in range(5):
                seen = len(access_lines(log))
                r = client.get(path)
                assert r.status_code == 200, (path, r.status_code)
                times.append(server_ms(log, seen))
            worst = max(worst, statistics.median(times))
            print(f"{name:28} {statistics.median(times):>24.1f} {max(times):>8.1f}")
        print(f"\nslowest page (median): {worst:.1f} ms; target < 200 ms: {'met' if worst < 200 else 'NOT met'}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
