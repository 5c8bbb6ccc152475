"""AI Gateway whole-process CPU per logged request, A/B: two kumo source trees (`--a`, `--b`: each a `src/`
folder) served alternately in front of the same fake OpenAI provider, closed loop at each `--conns`, CPU =
utime + stime of the whole server process over the requests served (warm-up excluded), plus the server's
CPU per second while idle. Placement: `--pinned` puts the server alone on CPU 0 and everything else on CPU 1;
without it the server runs unpinned beside its clients, as users run it. `--floor` adds a third target: a bare
ASGI proxy on the same uvicorn and aiohttp (bench/gateway_floor.py), what any Python gateway pays on
this machine; each row also gives the fake provider's own CPU per request (a bare server answering).

Run:  .venv/bin/python bench/gateway_cpu.py --a /work/main/src --b src --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import KumoServer, proc_cpu
from gateway.measure import loadgen_cmd
from gateway.peers import Target, start_fake, stop
from gateway.workload import ACCOUNT, GATEWAY, PROXY_CPU


def start(src: str, fake: Target, workdir: Path, pinned: bool, log_level: str) -> tuple[Target, KumoServer]:
    """`kumo serve` from the source tree `src`, with the gateway `gw` logging every request."""
    import httpx

    env = {"KUMO_UPSTREAM_OPENAI": f"http://127.0.0.1:{fake.port}", "PYTHONPATH": str(Path(src).resolve())}
    server = KumoServer(Path(tempfile.mkdtemp(prefix="kumo-data-", dir=workdir)), env,
                        cpus=PROXY_CPU if pinned else None, log_level=log_level)
    r = httpx.post(f"{server.url}/client/v4/accounts/{ACCOUNT}/ai-gateway/gateways", headers={"Authorization": "Bearer x"},
                   json={"id": GATEWAY, "cache_invalidate_on_update": False, "cache_ttl": None, "collect_logs": True,
                         "rate_limiting_interval": None, "rate_limiting_limit": None}, timeout=30)
    r.raise_for_status()
    return Target("kumo", server.port, f"/v1/{ACCOUNT}/{GATEWAY}/openai/chat/completions", server.proc, server.pid), server


def start_floor(fake: Target, workdir: Path, pinned: bool) -> tuple[Target, KumoServer]:
    """bench/gateway_floor.py in its own process, placed like kumo."""
    server = KumoServer(Path(tempfile.mkdtemp(prefix="kumo-floor-", dir=workdir)),
                        {"FLOOR_UPSTREAM": f"http://127.0.0.1:{fake.port}"},
                        kumo=[sys.executable, str(Path(__file__).resolve().with_name("gateway_floor.py"))],
                        cpus=PROXY_CPU if pinned else None)
    return Target("floor", server.port, "/chat/completions", server.proc, server.pid), server


def client_cmd(spec: dict, pinned: bool) -> list[str]:
    """The load generator's command: on the client CPU when the server is pinned, else anywhere."""
    cmd = loadgen_cmd(spec)
    return cmd if pinned else cmd[cmd.index("taskset") + 3:]


def load(target: Target, fake: Target, conns: int, seconds: float, pinned: bool) -> dict:
    """A 1 s warm-up, then `seconds` of closed loop at `conns` connections; CPU per request includes the log
    writer's batches of those requests."""
    spec = {"mode": "closed", "conns": conns, "duration": seconds, "warmup": 0, "request": target.request(),
            "expect": "chat.completion", "host": "127.0.0.1", "port": target.port}
    subprocess.run(client_cmd(dict(spec, duration=1.0), pinned), capture_output=True, text=True, check=True)
    time.sleep(1.5)  # the log writer's last batch of the warm-up
    c0, f0 = proc_cpu(target.pid), proc_cpu(fake.pid)
    out = subprocess.run(client_cmd(spec, pinned), capture_output=True, text=True, check=True)
    f1 = proc_cpu(fake.pid)
    time.sleep(1.5)  # the log batch of these requests is part of their work: counted
    c1 = proc_cpu(target.pid)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    done = max(1, r["done"])
    return {"rps": r["rps"], "p50": r["latency"].get("p50"), "done": r["done"], "errors": r["errors"],
            "cpu_ms": (c1 - c0) * 1000 / done, "fake_ms": (f1 - f0) * 1000 / done}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--a", default="/work/main/src")
    ap.add_argument("--b", default=str(Path(__file__).resolve().parent.parent / "src"))
    ap.add_argument("--conns", default="1,8,64")
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--idle-seconds", type=float, default=8, help="how long idle CPU is measured (ticks are 10 ms)")
    ap.add_argument("--pinned", action="store_true")
    ap.add_argument("--floor", action="store_true", help="also measure a bare ASGI + aiohttp proxy")
    ap.add_argument("--log-level", default="warning",
                    help="kumo's log level (default warning: no access lines; kumo serve's own default is info)")
    args = ap.parse_args()
    args.chunks, args.chunk_gap_ms = 20, 1.0
    conns = [int(c) for c in args.conns.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="kumo-gwcpu-"))
    fake = start_fake(args, workdir)
    rows: dict = {}
    try:
        for rnd in range(args.rounds):
            for name, src in (("a", args.a), ("b", args.b)) + ((("floor", None),) if args.floor else ()):
                target, server = (start_floor(fake, workdir, args.pinned) if src is None
                                  else start(src, fake, workdir, args.pinned, args.log_level))
                try:
                    time.sleep(2)  # start-up's own work settles
                    c0 = proc_cpu(target.pid)
                    time.sleep(args.idle_seconds)
                    idle = (proc_cpu(target.pid) - c0) * 1000 / args.idle_seconds
                    rows.setdefault((name, "idle"), []).append(idle)
                    for c in conns:
                        r = load(target, fake, c, args.seconds, args.pinned)
                        rows.setdefault((name, c), []).append(r)
                        print(f"round {rnd} {name} c={c:3d} rps={r['rps']:7.1f} p50={r['p50']:6.2f} "
                              f"cpu/req={r['cpu_ms']:.3f} ms (provider {r['fake_ms']:.3f}) errors={r['errors']}", flush=True)
                    print(f"round {rnd} {name} idle cpu={idle:.1f} ms/s", flush=True)
                finally:
                    server.stop()
    finally:
        stop(fake.proc)
    print(f"\n{'pinned' if args.pinned else 'unpinned'}, fake provider {args.latency_ms:g} ms, "
          f"{os.cpu_count()} CPUs; kumo's log level {args.log_level}; a = {args.a}, b = {args.b}; "
          f"best of {args.rounds} rounds")
    for c in conns:
        a = min(rows[("a", c)], key=lambda r: r["cpu_ms"])
        b = min(rows[("b", c)], key=lambda r: r["cpu_ms"])
        print(f"c={c:3d}  a {a['cpu_ms']:.3f} ms/req ({a['rps']:.0f} req/s, p50 {a['p50']:.2f})   "
              f"b {b['cpu_ms']:.3f} ms/req ({b['rps']:.0f} req/s, p50 {b['p50']:.2f})   b/a {b['cpu_ms'] / a['cpu_ms']:.2f}"
              f"   provider {min(r['fake_ms'] for r in rows[('a', c)] + rows[('b', c)]):.3f}")
        if args.floor:
            f = min(rows[("floor", c)], key=lambda r: r["cpu_ms"])
            print(f"       floor {f['cpu_ms']:.3f} ms/req ({f['rps']:.0f} req/s, p50 {f['p50']:.2f})   "
                  f"b - floor {b['cpu_ms'] - f['cpu_ms']:.3f} ms/req")
    print(f"idle  a {min(rows[('a', 'idle')]):.1f} ms/s   b {min(rows[('b', 'idle')]):.1f} ms/s"
          + (f"   floor {min(rows[('floor', 'idle')]):.1f} ms/s" if args.floor else ""))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
