"""The load generator (its own process: `gateway_proxy.py --role loadgen --spec JSON`): a minimal HTTP/1.1
keep-alive client on raw asyncio streams. Closed loop = C connections each sending back to back; open loop =
requests sent at fixed intervals whatever happened before, latency taken from the *scheduled* send time."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time

SENT = [0]  # requests sent by this load generator, warm-up included (for the target's CPU per request)


class Conn:
    __slots__ = ("reader", "writer", "alive")

    def __init__(self, reader, writer):
        self.reader, self.writer, self.alive = reader, writer, True


async def open_conn(host: str, port: int) -> Conn:
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return Conn(reader, writer)


async def http_request(conn: Conn, request: bytes, clock=time.perf_counter):
    """Send one request on a keep-alive connection and read the whole answer.
    Returns (status, time of the first body byte, end time, body bytes, response head)."""
    conn.writer.write(request)
    SENT[0] += 1
    reader = conn.reader
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    first = None
    body = b""
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.find(b"\r\n", at + 2)
        n = int(lower[at + 17:end])
        if n:
            body = await reader.readexactly(n)
        first = clock()
    elif b"\r\ntransfer-encoding: chunked" in lower:
        parts = []
        while True:
            line = await reader.readline()
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readline()
                break
            data = await reader.readexactly(size + 2)
            if first is None:
                first = clock()
            parts.append(data[:-2])
        body = b"".join(parts)
    else:  # read to close
        body = await reader.read()
        first = clock()
        conn.alive = False
    if b"\r\nconnection: close" in lower:
        conn.alive = False
    return status, first, clock(), body, head


def summarize(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    s = sorted(values)
    n = len(s)

    def pct(p: float) -> float:
        return s[min(n - 1, max(0, int(round(p / 100 * n + 0.5)) - 1))]

    return {"n": n, "mean": sum(s) / n * 1000, "p50": pct(50) * 1000, "p90": pct(90) * 1000,
            "p99": pct(99) * 1000, "p999": pct(99.9) * 1000, "max": s[-1] * 1000}


async def loadgen(spec: dict) -> dict:
    host, port = spec["host"], spec["port"]
    request = spec["request"].encode("latin-1")
    check = spec.get("expect")  # a byte string the body must contain
    mode = spec["mode"]
    clock = time.perf_counter
    lat: list[float] = []
    ttfb: list[float] = []
    lag: list[float] = []
    errors: dict[str, int] = {}
    heads: list[str] = []

    def error(kind: str) -> None:
        errors[kind] = errors.get(kind, 0) + 1

    def record(status, first, end, body, head, start, sent) -> None:
        if status != 200 or (check and check.encode() not in body):
            error(f"status {status}" if status != 200 else "unexpected body")
            if len(heads) < 3:
                heads.append((head + body[:300]).decode("latin-1"))
            return
        lat.append(end - start)
        ttfb.append(first - start)
        lag.append(sent - start)

    async def attempt(conn: Conn):
        """One request's answer, or None (counted as an error, the connection marked dead) when it failed."""
        try:
            return await http_request(conn, request, clock)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            error(type(exc).__name__)
            conn.alive = False
            return None

    if mode == "closed":
        conns = spec["conns"]
        warmup, duration, count = spec.get("warmup", 0), spec.get("duration"), spec.get("count")
        pool = [await open_conn(host, port) for _ in range(conns)]
        state = {"left": 0}

        async def worker(i: int, deadline: float, limited: bool, recording: bool) -> None:
            while clock() < deadline:
                if limited:
                    if state["left"] <= 0:
                        return
                    state["left"] -= 1
                conn = pool[i]
                if conn.reader.at_eof():  # closed by the server while idle (keep-alive timeout)
                    conn.writer.close()
                    conn = pool[i] = await open_conn(host, port)
                start = clock()
                answer = await attempt(conn)
                if not conn.alive:
                    conn.writer.close()
                    pool[i] = await open_conn(host, port)
                if answer is not None and recording:
                    record(*answer, start, start)

        if warmup:
            if count is not None:  # a number of warm-up requests
                state["left"] = int(warmup)
                await asyncio.gather(*(worker(i, 1e18, True, False) for i in range(conns)))
            else:  # seconds
                t = clock() + float(warmup)
                await asyncio.gather(*(worker(i, t, False, False) for i in range(conns)))
        errors.clear()
        state["left"] = count or 0
        t0 = clock()
        deadline = t0 + duration if duration else 1e18
        await asyncio.gather(*(worker(i, deadline, count is not None, True) for i in range(conns)))
        elapsed = clock() - t0
        done = len(lat)

    elif mode == "open":
        rate, duration, warmup = spec["rate"], spec["duration"], spec.get("warmup", 0)
        max_conns = spec.get("max_conns", 512)
        idle: list[Conn] = [await open_conn(host, port) for _ in range(spec.get("preopen", 32))]
        opened = [len(idle)]
        waiters: list[asyncio.Future] = []
        inflight: set[asyncio.Task] = set()
        last_end = [0.0]

        async def get_conn() -> Conn:
            while idle:
                conn = idle.pop()
                if not conn.reader.at_eof():  # the server closes connections idle past its keep-alive timeout
                    return conn
                conn.writer.close()
                opened[0] -= 1
            if opened[0] < max_conns:
                opened[0] += 1
                return await open_conn(host, port)
            fut = asyncio.get_running_loop().create_future()
            waiters.append(fut)
            return await fut

        def put_conn(conn: Conn) -> None:
            if waiters:
                waiters.pop(0).set_result(conn)
            else:
                idle.append(conn)

        async def one(scheduled: float, recording: bool) -> None:
            conn = await get_conn()
            sent = clock()
            answer = await attempt(conn)
            if not conn.alive:
                conn.writer.close()
                opened[0] -= 1
                conn = await open_conn(host, port)
                opened[0] += 1
            put_conn(conn)
            if answer is not None and recording:
                record(*answer, scheduled, sent)
                last_end[0] = max(last_end[0], answer[2])

        async def run(seconds: float, recording: bool) -> float:
            n = int(rate * seconds)
            interval = 1.0 / rate
            t0 = clock() + 0.01
            for i in range(n):
                scheduled = t0 + i * interval
                delay = scheduled - clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.ensure_future(one(scheduled, recording))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
            return t0

        if warmup:
            await run(warmup, False)
        t0 = await run(duration, True)
        sent_all = clock()
        if inflight:
            await asyncio.wait(set(inflight), timeout=max(30.0, duration * 2))
        unfinished = len(inflight)
        if unfinished:
            errors["unfinished"] = unfinished
            for task in list(inflight):
                task.cancel()
        elapsed = max(sent_all, last_end[0]) - t0
        done = len(lat)
        spec["conns_opened"] = opened[0]
    else:
        raise SystemExit(f"unknown mode {mode}")

    return {"mode": mode, "done": done, "elapsed": elapsed, "rps": done / elapsed if elapsed else 0.0,
            "latency": summarize(lat), "ttfb": summarize(ttfb), "send_lag": summarize(lag), "errors": errors,
            "error_samples": heads, "conns_opened": spec.get("conns_opened"), "sent_total": SENT[0]}


def run_loadgen(spec_json: str) -> None:
    import uvloop

    spec = json.loads(spec_json)
    result = uvloop.run(loadgen(spec))
    sys.stdout.write(json.dumps(result) + "\n")
