"""Shared fixtures: a real `kumo serve` on 127.0.0.1, the official `cloudflare` client pointed at it,
and a fresh account id per test so tests never see each other's data."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
KUMO = [sys.executable, "-m", "kumo"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_in_thread(app, **config) -> Iterator[str]:
    """`app` served by uvicorn in this process on a free port (as an application embedding kumo would): its URL."""
    import uvicorn

    port = free_port()
    config = {"lifespan": "on", **config}  # "off": an app sharing a Platform another app started
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


_STARTED: list[Server] = []


class Server:
    """A `kumo serve` subprocess (stopped at the end of the session if a test could not)."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, args: list[str] | None = None):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        self.args = args or []
        self.proc: subprocess.Popen | None = None
        self.log = data_dir.parent / f"server-{self.port}.log"

    def start(self) -> Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [*KUMO, "serve", "--port", str(self.port), "--data-dir", str(self.data_dir), *self.args],
            env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        _STARTED.append(self)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kumo serve exited early: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("kumo serve did not become healthy in 60 s")

    def logged_text(self) -> str:
        """The server's log once every request made so far has its access line: a marked request goes last, and
        access lines are written in order (under load kumo writes them in batches, up to 0.5 s late)."""
        marker = f"logged-{time.monotonic_ns()}"
        httpx.get(self.url + "/healthz", headers={"x-request-id": marker}, timeout=10)
        deadline = time.monotonic() + 10
        while marker not in (text := self.log.read_text()):
            assert time.monotonic() < deadline, "the marked request's access line was not written in 10 s"
            time.sleep(0.05)
        return text

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self._log.close()


@pytest.fixture(scope="session", autouse=True)
def _stop_leftover_servers():
    yield
    for srv in _STARTED:
        if srv.proc and srv.proc.poll() is None:
            srv.proc.kill()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("kumo") / "data").start()
    yield srv
    srv.stop()


# ---- PostgreSQL (scale-out backend): each session gets its own database, dropped at the end ----------
from tests.pg_instance import PostgresDatabase  # noqa: E402  (tests and benches import it from here too)


@pytest.fixture(scope="session")
def pg_url():
    with PostgresDatabase() as db:
        yield db.url


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend_server(request, tmp_path_factory):
    """A `kumo serve` on each backend: tests that take it run once embedded and once on PostgreSQL."""
    env = {"KUMO_DATABASE_URL": request.getfixturevalue("pg_url")} if request.param == "postgres" else {}
    srv = Server(tmp_path_factory.mktemp(f"kumo-{request.param}") / "data", env=env).start()
    yield srv
    srv.stop()


@pytest.fixture
def account() -> str:
    return "acct-" + uuid.uuid4().hex[:12]


@pytest.fixture
def cf(server):
    from cloudflare import Cloudflare

    client = Cloudflare(api_token="dev-token", base_url=server.url + "/client/v4", max_retries=0)
    yield client
    client.close()


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, headers={"authorization": "Bearer dev-token"}, timeout=60) as client:
        yield client


@pytest.fixture(scope="session", autouse=True)
def _no_ambient_credentials():
    """SDKs pick up credentials and base URLs from the environment; tests must use only what they pass."""
    saved = {k: os.environ.pop(k) for k in list(os.environ)
             if k.startswith(("ANTHROPIC_", "OPENAI_", "CLOUDFLARE_", "KUMO_"))}
    yield
    os.environ.update(saved)



# ---- the AI Gateway against a fake provider (used by gateway, dashboard and metrics tests) -------------
PROVIDER_SLUGS = ["openai", "anthropic", "google-ai-studio", "groq", "mistral", "deepseek", "azure-openai",
                  "aws-bedrock", "google-vertex-ai", "huggingface", "replicate", "cohere", "perplexity-ai", "grok",
                  "openrouter", "cerebras"]


@pytest.fixture(scope="session")
def fake():
    from tests.gateway.fake_provider import FakeProvider

    provider = FakeProvider().start()
    yield provider
    provider.stop()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def gw_server(request, tmp_path_factory, fake):
    """The gateway tests run on both backends: logs, gateways and routes in SQLite, then in PostgreSQL."""
    env = {"KUMO_UPSTREAM_" + slug.upper().replace("-", "_"): fake.url for slug in PROVIDER_SLUGS}
    env["KUMO_GATEWAY_STREAM_IDLE_TIMEOUT"] = "2"
    if request.param == "postgres":
        env["KUMO_DATABASE_URL"] = request.getfixturevalue("pg_url")
        env["KUMO_GATEWAY_KEY_ENCRYPTION_KEY"] = "test-kek-" + "k" * 32  # nodes sharing a database need one
    srv = Server(tmp_path_factory.mktemp("gw-" + request.param) / "data", env=env).start()
    yield srv
    srv.stop()


@pytest.fixture
def acct() -> str:
    return "gwacct-" + uuid.uuid4().hex[:10]


@pytest.fixture
def admin(gw_server, acct):
    with httpx.Client(base_url=f"{gw_server.url}/client/v4/accounts/{acct}/ai-gateway",
                      headers={"authorization": "Bearer admin"}, timeout=60) as client:
        yield client
