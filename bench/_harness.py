"""What every benchmark here shares: a `kumo serve` in its own process, free ports, the CPU a process used
(utime + stime from /proc), waiting for a quiet machine, and the tables the reports print.

Imported as `from _harness import ...` (a script's own folder, bench/, is first on sys.path)."""

from __future__ import annotations

import argparse
import atexit
import http.client
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLK = os.sysconf("SC_CLK_TCK")


# ---- printing -------------------------------------------------------------------------------
def say(*parts) -> None:
    print(*parts, flush=True)


def fmt(value) -> str:
    """A table cell: floats to three significant-ish digits, thousands separated, NaN as n/a."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:
            return "n/a"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3f}" if abs(value) < 1 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A markdown table that also reads well as plain text; first column left-aligned."""
    cells = [list(map(str, headers))] + [[fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) + " |"

    sep = "|" + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|"
    return "\n".join([line(cells[0]), sep] + [line(r) for r in cells[1:]])


def inference_parser(doc: str, engine: str) -> argparse.ArgumentParser:
    """The Workers AI benchmarks' command line: the script's docstring as help, and --threads for the raw
    `engine` and kumo alike (kumo gets them as KUMO_THREADS: see `threads_env`)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help=f"{engine} threads for raw and kumo (KUMO_THREADS) [default: all cores]")
    return ap


def threads_env(threads: int | None) -> dict[str, str] | None:
    return {"KUMO_THREADS": str(threads)} if threads else None


# ---- the machine ----------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    """1/5/15-minute load averages: other work on the machine skews every figure."""
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return "n/a"


def system_busy() -> float:
    """CPU seconds spent busy by the whole machine since boot (all cores)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / CLK


def machine_busy(seconds: float = 3.0) -> float:
    """Cores in use by anything over a short window."""
    a, t = system_busy(), time.monotonic()
    time.sleep(seconds)
    return (system_busy() - a) / (time.monotonic() - t)


def other_benchmarks(me: str = "") -> list[str]:
    """Other `bench/` processes running now (not this one, its parent, nor scripts named `me`)."""
    out = subprocess.run(["pgrep", "-af", "bench/"], capture_output=True, text=True).stdout
    mine = {os.getpid(), os.getppid()}
    lines = []
    for line in out.splitlines():
        pid, _, cmd = line.partition(" ")
        if int(pid) in mine or (me and me in cmd) or "pgrep" in cmd:
            continue
        lines.append(line)
    return lines


def wait_for_idle(max_wait: float, max_busy: float = 0.15, me: str = "") -> None:
    """Wait (polling every 30 s) until no other `bench/` process runs and the machine is quiet."""
    deadline = time.monotonic() + max_wait
    while True:
        others = other_benchmarks(me)
        busy = machine_busy()
        if not others and busy <= max_busy:
            return
        if time.monotonic() > deadline:
            print(f"WARNING: machine still busy after {max_wait:.0f} s ({busy:.2f} cores; {others}); measuring anyway",
                  file=sys.stderr)
            return
        print(f"waiting: other benchmarks {others}, machine busy {busy:.2f} cores", file=sys.stderr, flush=True)
        time.sleep(30)


# ---- processes ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listening on {port} after {timeout} s")


def proc_cpu(pid: int | None) -> float:
    """utime + stime of a live process (all its threads), seconds; 0 when gone."""
    if not pid:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK


def proc_status(pid: int | str, field: str = "VmRSS") -> float:
    """A memory field of /proc/<pid>/status (VmRSS, VmHWM) in MiB; NaN when unreadable."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def clients_cpu() -> float:
    """CPU seconds used so far by this process (all threads: in-process clients such as httpx) and by its
    reaped children (`curl` clients): the difference over a measurement is what its clients cost."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def curl_transfers(urls: Sequence[str], upload: Path | None = None, headers: Sequence[str] = (),
                   timeout: float = 300) -> list[tuple[int, float, int]]:
    """The transfers one after the other by ONE `curl` process on one kept-alive connection: a client that is
    not Python-bound, for measuring a server. `upload`: PUT that file to every URL; else GET each (the body is
    discarded). Each transfer's (HTTP status, seconds, bytes sent or received)."""
    command = ["curl", "--silent", "--show-error", "--max-time", str(timeout), "--header", "Expect:",
               "--write-out", "%{http_code} %{time_total} %{size_upload} %{size_download}\n"]
    for header in headers:
        command += ["--header", header]
    for url in urls:
        command += [*(["--upload-file", str(upload)] if upload is not None else []), "--output", "/dev/null", url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    results = []
    for line in out.splitlines():
        status, seconds, sent, received = line.split()
        results.append((int(status), float(seconds), int(float(sent if upload is not None else received))))
    if len(results) != len(urls):
        raise RuntimeError(f"curl reported {len(results)} transfers of {len(urls)}: {out[-500:]}")
    return results


class CpuWatch:
    """How much CPU *other* processes used during a measurement: machine busy time minus ours (this process,
    its reaped children such as a load generator, and the live processes named in `pids`)."""

    def __init__(self, pids: list[int | None]):
        self.pids = [p for p in pids if p]
        self.start = self._snap()

    def _snap(self) -> tuple[float, float, float]:
        t = os.times()
        ours = t.user + t.system + t.children_user + t.children_system + sum(proc_cpu(p) for p in self.pids)
        return system_busy(), ours, time.monotonic()

    def foreign(self) -> float:
        """Other processes' CPU use, in cores (0.1 = a tenth of one core), over the interval."""
        busy, ours, now = self._snap()
        return max(0.0, ((busy - self.start[0]) - (ours - self.start[1])) / max(1e-6, now - self.start[2]))


def stop(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Ask a process to end (`sig`), then kill it after `timeout` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def healthy(port: int) -> bool:
    """GET /healthz answers 200 (http.client: no proxy from the environment gets in the way)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


class KumoServer:
    """`kumo serve` in its own process on a free port, started at construction and healthy on return.

    data_dir: its data directory (a temporary one, removed at stop, when None); env: added to the environment
    (`clean_env` drops the caller's KUMO_* first); kumo: the command (default: this Python's `-m kumo`, so a
    worktree's PYTHONPATH decides which kumo runs); cpus: pin it with taskset; log_level None: kumo's default."""

    def __init__(self, data_dir: Path | None = None, env: dict[str, str] | None = None, *,
                 kumo: Sequence[str] | None = None, clean_env: bool = False, log_level: str | None = "warning",
                 cpus: str | None = None, log_path: Path | None = None, startup: float = 120):
        self.tmp = Path(tempfile.mkdtemp(prefix="kumo-bench-")) if data_dir is None else None
        self.data_dir = data_dir if data_dir is not None else self.tmp / "data"
        self.log_path = log_path or self.data_dir.parent / f"{self.data_dir.name}.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environ = {k: v for k, v in os.environ.items() if not (clean_env and k.startswith("KUMO_"))}
        environ.update(env or {})
        command = [*(["taskset", "-c", cpus] if cpus else []), *(kumo or [sys.executable, "-m", "kumo"]),
                   "serve", "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", str(self.data_dir),
                   *(["--log-level", log_level] if log_level else [])]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(command, env=environ, stdout=self._log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        atexit.register(self.stop)  # a benchmark that fails half-way leaves no server behind
        deadline = time.monotonic() + startup
        while not healthy(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"kumo serve did not become healthy in {startup:.0f} s: {tail}")
            time.sleep(0.1)

    def cpu_seconds(self) -> float:
        """utime + stime of the server process (all its threads) so far."""
        return proc_cpu(self.pid)

    def rss_mb(self, field: str = "VmRSS") -> float:
        return proc_status(self.pid, field)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop(self.proc, sig, timeout=120)
        self._log.close()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> KumoServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
