"""A real Worker (tests/workers/probe) run by `kumo workers dev` — wrangler's config reading, miniflare, workerd —
with its AI and Vectorize bindings served by a real `kumo serve`. Skipped, saying why, only where Node is absent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import KUMO, free_port

HERE = Path(__file__).resolve().parent
PROBE = HERE / "probe" / "wrangler.jsonc"
DIMENSIONS = 384  # @cf/baai/bge-small-en-v1.5


@pytest.fixture(scope="session")
def node_tools() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js is not installed: the Workers-bindings tests need node and npm (20 or later)")
    from kumo.cli.workers import ensure_launcher_packages

    ensure_launcher_packages(shutil.which("npm"))


class Worker:
    """`kumo workers dev <config>` as a subprocess, and calls to the Worker it serves."""

    def __init__(self, config: Path, kumo_url: str, account: str, log: Path, token: str | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, **({"KUMO_API_TOKEN": token} if token else {})}
        self._out = open(log, "wb")
        self.proc = subprocess.Popen([*KUMO, "workers", "dev", str(config), "--url", kumo_url, "--account", account,
                                      "--port", str(self.port)], env=env, stdout=self._out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kumo workers dev exited: {log.read_text()[-3000:]}")
            if b"ready on" in log.read_bytes():
                return
            time.sleep(0.1)
        raise RuntimeError(f"the Worker did not start in 90 s: {log.read_text()[-3000:]}")

    def call(self, name: str, args: dict | None = None, timeout: float = 120) -> dict:
        response = httpx.post(f"{self.url}/{name}", content=json.dumps(args or {}), timeout=timeout)
        assert response.status_code == 200, response.text
        return response.json()

    def ok(self, name: str, args: dict | None = None):
        answer = self.call(name, args)
        assert "ok" in answer, answer
        return answer["ok"]

    def error(self, name: str, args: dict | None = None) -> dict:
        answer = self.call(name, args)
        assert "error" in answer, answer
        return answer["error"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._out.close()


@pytest.fixture(scope="session")
def own_server(tmp_path_factory):
    """A kumo of these tests' own, with API tokens (alpha for acct-a, beta for acct-b): for what must not touch the
    shared server (a chat stream left early may wedge its model) and for sessions under real credentials."""
    from tests.conftest import Server

    srv = Server(tmp_path_factory.mktemp("workers-own") / "data",
                 env={"KUMO_API_TOKENS": "alpha:acct-a,beta:acct-b"}).start()
    yield srv
    srv.kill9()  # a wedged chat model may keep a graceful stop waiting


@pytest.fixture(scope="module")
def bound_account(server) -> str:
    account = "wk-" + uuid.uuid4().hex[:10]
    with httpx.Client(base_url=f"{server.url}/client/v4/accounts/{account}",
                      headers={"authorization": "Bearer dev-token"}, timeout=30) as http:
        created = http.post("/vectorize/v2/indexes", json={"name": "probe-index", "config": {
            "dimensions": DIMENSIONS, "metric": "cosine"}})
        assert created.status_code in (200, 201), created.text
    return account


@pytest.fixture(scope="module")
def probe(node_tools, server, bound_account, tmp_path_factory):
    worker = Worker(PROBE, server.url, bound_account, tmp_path_factory.mktemp("probe") / "worker.log")
    yield worker
    worker.stop()
