"""The targets a load runs against, each its own process: `direct` (the fake provider itself), `kumo`
(`kumo serve` with KUMO_UPSTREAM_OPENAI at the fake, gateway `gw` logging every request) and `litellm` (LiteLLM
proxy in front of the same fake, from a separate venv)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import REPO, KumoServer, free_port, wait_port
from _harness import stop as stop_process
from gateway.workload import ACCOUNT, CLIENT_CPU, ENTRY, GATEWAY, MODEL, PROXY_CPU, REQUEST_BODY


def raw_request(port: int, path: str, body: str, extra: dict[str, str] | None = None) -> str:
    headers = {"Host": f"127.0.0.1:{port}", "Content-Type": "application/json",
               "Authorization": "Bearer sk-bench-dummy", "Content-Length": str(len(body.encode()))}
    headers.update(extra or {})
    return (f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n" + body)


class Target:
    def __init__(self, name: str, port: int, path: str, proc: subprocess.Popen | None = None, pid: int | None = None):
        self.name, self.port, self.path, self.proc, self.pid = name, port, path, proc, pid

    def request(self, body: str = REQUEST_BODY, extra: dict[str, str] | None = None) -> str:
        return raw_request(self.port, self.path, body, extra)


def stop(proc: subprocess.Popen | None) -> None:
    stop_process(proc, signal.SIGINT, timeout=20)


def start_fake(args, workdir: Path) -> Target:
    port = free_port()
    cmd = ["taskset", "-c", CLIENT_CPU, sys.executable, str(ENTRY), "--role", "fake", "--port", str(port),
           "--latency-ms", str(args.latency_ms), "--chunks", str(args.chunks), "--chunk-gap-ms", str(args.chunk_gap_ms)]
    proc = subprocess.Popen(cmd, stdout=open(workdir / "fake.log", "w"), stderr=subprocess.STDOUT)
    wait_port(port, 30, proc)
    return Target("direct", port, "/chat/completions", proc, proc.pid)


def start_kumo(args, workdir: Path, fake: Target, env: dict[str, str] | None = None) -> Target:
    import httpx

    kumo_bin = REPO / ".venv" / "bin" / "kumo"
    kumo = [str(kumo_bin)] if kumo_bin.exists() else None  # None: a worktree's kumo, by PYTHONPATH
    data = Path(tempfile.mkdtemp(prefix="kumo-data-", dir=workdir))  # one per kumo started (kumo, then controls)
    server = KumoServer(data, {"KUMO_UPSTREAM_OPENAI": f"http://127.0.0.1:{fake.port}", **(env or {})}, kumo=kumo,
                        cpus=PROXY_CPU)
    r = httpx.post(f"http://127.0.0.1:{server.port}/client/v4/accounts/{ACCOUNT}/ai-gateway/gateways",
                   headers={"Authorization": "Bearer x"},
                   json={"id": GATEWAY, "cache_invalidate_on_update": False, "cache_ttl": None, "collect_logs": True,
                         "rate_limiting_interval": None, "rate_limiting_limit": None}, timeout=30)
    if r.status_code >= 300:
        raise RuntimeError(f"could not create the gateway: {r.status_code} {r.text}")
    return Target("kumo", server.port, f"/v1/{ACCOUNT}/{GATEWAY}/openai/chat/completions", server.proc, server.pid)


def start_litellm(args, workdir: Path, fake: Target) -> Target | None:
    binary = args.litellm_bin
    if not binary or not Path(binary).exists():
        print(f"LiteLLM skipped: no binary at {binary!r}", file=sys.stderr)
        return None
    port = free_port()
    config = workdir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{MODEL}\n"
        f"      api_base: http://127.0.0.1:{fake.port}/v1\n"
        "      api_key: sk-bench-dummy\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "  success_callback: []\n"
        "  failure_callback: []\n"
        "  callbacks: []\n"
        "  set_verbose: false\n"
        "  json_logs: false\n"
        "general_settings:\n"
        "  disable_spend_logs: true\n"
        "  disable_error_logs: true\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL")}
    # no master key = no auth on the proxy, like kumo's gateway without `authentication` (and cheaper for LiteLLM)
    env.update(LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY="true", LITELLM_LOG="ERROR", LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_TELEMETRY="False",
               TELEMETRY="False", DISABLE_SCHEMA_UPDATE="True", NO_DOCS="True", NO_REDOC="True",
               PYTHONUNBUFFERED="1")
    cmd = ["taskset", "-c", PROXY_CPU, binary, "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
           "--num_workers", "1"]
    proc = subprocess.Popen(cmd, stdout=open(workdir / "litellm.log", "w"), stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    try:
        wait_port(port, 240, proc)
    except RuntimeError as exc:
        print(f"LiteLLM did not start: {exc}\n{(workdir / 'litellm.log').read_text()[-3000:]}", file=sys.stderr)
        stop(proc)
        return None
    time.sleep(2)
    return Target("litellm", port, "/chat/completions", proc, proc.pid)
