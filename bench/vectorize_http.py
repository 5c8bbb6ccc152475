"""Vectorize over HTTP for the benchmarks: `kumo serve` in its own process, a lean keep-alive client (what wrk
or a pooled SDK connection costs, not what http.client's header parsing costs), clients in processes of
their own, and the server's whole-process CPU (utime + stime from /proc) over what it served."""

from __future__ import annotations

import multiprocessing
import socket
import time
from pathlib import Path

import numpy as np
import orjson

from _harness import KumoServer

TOKEN = "bench-token"


class Client:
    """One keep-alive HTTP/1.1 connection; requests are sent whole, answers read by Content-Length."""

    def __init__(self, port: int):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        try:
            return self._request(method, path, body)
        except (ConnectionError, BrokenPipeError):  # the server closed an idle keep-alive connection: reopen
            self.sock.close()
            self.__init__(self.port)
            return self._request(method, path, body)

    def _request(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        self.sock.sendall(head + body)
        while b"\r\n\r\n" not in self.buf:
            self._more()
        header, _, rest = self.buf.partition(b"\r\n\r\n")
        status = int(header[9:12])
        length = 0
        for line in header.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        self.buf = rest
        while len(self.buf) < length:
            self._more()
        payload, self.buf = self.buf[:length], self.buf[length:]
        return status, payload

    def _more(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buf += chunk

    def json(self, method: str, path: str, body=None) -> dict:
        status, payload = self.request(method, path, b"" if body is None else orjson.dumps(body))
        data = orjson.loads(payload)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {data}")
        return data["result"]

    def close(self) -> None:
        self.sock.close()


class Server(KumoServer):
    """`python -m kumo serve` with the benchmark's API token, kumo's default log level, and its log beside
    `data_dir`."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None):
        super().__init__(data_dir, {"KUMO_API_TOKENS": TOKEN, **(env or {})}, log_level=None)


def ids_of(payload: bytes) -> list[int]:
    return [int(m["id"]) for m in orjson.loads(payload)["result"]["matches"]]


def _client_worker(worker: int, port: int, path: str, bodies: list[bytes], start_at: float, out) -> None:
    client = Client(port)
    for body in bodies[:5]:  # warm the connection
        client.request("POST", path, body)
    while time.time() < start_at:
        time.sleep(0.001)
    lat = np.empty(len(bodies))
    results = []
    clock = time.perf_counter
    for i, body in enumerate(bodies):
        s = clock()
        status, payload = client.request("POST", path, body)
        lat[i] = clock() - s
        results.append(ids_of(payload) if status == 200 else None)
    out.put((worker, lat, results))
    client.close()


def concurrent_queries(server: Server, path: str, bodies: list[bytes], clients: int) -> dict:
    """Every body once, spread over `clients` processes each with one connection, all starting together:
    QPS over the wall time, latencies, results in body order, the server's CPU per query."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    shares = [list(range(i, len(bodies), clients)) for i in range(clients)]
    start_at = time.time() + 1.0 + 0.1 * clients
    procs = [ctx.Process(target=_client_worker,
                         args=(i, server.port, path, [bodies[j] for j in share], start_at, queue))
             for i, share in enumerate(shares)]
    for p in procs:
        p.start()
    while time.time() < start_at:
        time.sleep(0.001)
    cpu0, t0 = server.cpu_seconds(), time.perf_counter()
    outs = [queue.get() for _ in procs]
    wall, cpu = time.perf_counter() - t0, server.cpu_seconds() - cpu0
    for p in procs:
        p.join()
    results: list = [None] * len(bodies)
    lat = []
    for worker, out_lat, out_res in outs:
        lat.append(out_lat)
        for j, r in zip(shares[worker], out_res):
            results[j] = r
    return {"qps": len(bodies) / wall, "lat": np.concatenate(lat), "results": results,
            "cpu_ms": cpu / len(bodies) * 1000, "wall": wall}


def beside_floor(server: Server, index_file: Path, dims: int, ef: int, path: str, bodies: list[bytes], clients: int,
                 truth) -> list[list]:
    """kumo and bench/vectorize_floor.py (serving the graph saved in `index_file`) to the same client processes,
    one client then `clients`: a table row each (recall, QPS, p50, server CPU, alone then together, scaling)."""
    import sys

    from _harness import KumoServer
    from _vectors import pct_ms, recall_at_k

    floor = KumoServer(index_file.parent / "floor", {"FLOOR_INDEX": str(index_file), "FLOOR_DIMS": str(dims),
                                                     "FLOOR_EF": str(ef)},
                       kumo=[sys.executable, str(Path(__file__).with_name("vectorize_floor.py"))])
    rows = []
    try:
        for label, target in (("kumo", server), ("floor", floor)):
            alone = concurrent_queries(target, path, bodies, 1)
            crowd = concurrent_queries(target, path, bodies, clients)
            rows.append([label, recall_at_k(alone["results"], truth), alone["qps"], pct_ms(alone["lat"], 50),
                         alone["cpu_ms"], crowd["qps"], pct_ms(crowd["lat"], 50), crowd["cpu_ms"],
                         f"{crowd['qps'] / alone['qps']:.2f}x"])
    finally:
        floor.stop()
    return rows
