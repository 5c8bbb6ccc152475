"""Offline golden fixtures, one directory per provider under fixtures/: answers and streams shaped as each provider
sends them. A replay server plays them back to a real `kumo serve`; each goes through the gateway byte for byte,
a stream ends cleanly (the provider's own end marker is recognised), and the log shows the tokens and model the
provider's usage parser read. Every provider in the registry has fixtures, so every parser runs."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kumo.gateway.providers import PROVIDERS
from tests.conftest import Server, free_port
from tests.gateway.conftest import make_gateway

FIXTURES = Path(__file__).parent / "fixtures"
# providers whose streams are not server-sent events kumo reads: Bedrock's are AWS event streams (binary),
# Replicate's come from a separate stream URL and carry no usage
NO_SSE_STREAM = {"aws-bedrock", "replicate"}
CASES = [(slug, name) for slug in sorted(PROVIDERS)
         for name in sorted(json.loads((FIXTURES / slug / "expected.json").read_text()))]


class Replay:
    """Answers `/{slug}/...` with the fixture named by the `x-fixture` header, and records the paths asked for."""

    def __init__(self):
        self.paths: list[str] = []
        self.port = free_port()
        app = Starlette(routes=[Route("/{rest:path}", self.answer, methods=["POST", "GET"])])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error",
                                                   lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)

    async def answer(self, request: Request) -> Response:
        self.paths.append(request.url.path)
        slug = request.url.path.split("/")[1]
        name = request.headers["x-fixture"]
        media = "text/event-stream" if name.endswith(".sse") else "application/json"
        return Response((FIXTURES / slug / name).read_bytes(), media_type=media)


@pytest.fixture(scope="module")
def replay():
    r = Replay()
    yield r
    r.server.should_exit = True
    r.thread.join(5)


@pytest.fixture(scope="module")
def replay_server(tmp_path_factory, replay):
    env = {"KUMO_UPSTREAM_" + slug.upper().replace("-", "_"): f"http://127.0.0.1:{replay.port}/{slug}"
           for slug in PROVIDERS}
    srv = Server(tmp_path_factory.mktemp("replay") / "data", env=env).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def golden(replay_server):
    """The management API of the account the fixtures go through, with its gateway `golden` made."""
    with httpx.Client(base_url=f"{replay_server.url}/client/v4/accounts/fixtures/ai-gateway",
                      headers={"authorization": "Bearer t"}, timeout=30) as admin:
        make_gateway(admin, "golden")
        yield admin


def test_every_provider_has_golden_fixtures():
    for slug in PROVIDERS:
        names = json.loads((FIXTURES / slug / "expected.json").read_text())
        assert any(n.endswith(".json") for n in names), f"{slug}: no answer fixture"
        if slug not in NO_SSE_STREAM:
            assert any(n.endswith(".sse") for n in names), f"{slug}: no stream fixture"
    assert {p.name for p in FIXTURES.iterdir() if p.is_dir()} == set(PROVIDERS)  # no fixtures of a gone provider


@pytest.mark.parametrize("slug, name", CASES)
def test_fixture_through_the_gateway(replay_server, golden, replay, slug, name):
    case = json.loads((FIXTURES / slug / "expected.json").read_text())[name]
    recorded = (FIXTURES / slug / name).read_bytes()
    url = f"{replay_server.url}/v1/fixtures/golden/{slug}/{case['path']}"
    r = httpx.post(url, json=case["request"], headers={"authorization": "Bearer k", "x-fixture": name}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.content == recorded  # untouched, and a complete stream gets no error event appended
    assert replay.paths[-1] == case.get("upstream_path", f"/{slug}/{case['path'].split('?')[0]}")
    log = golden.get(f"/gateways/golden/logs/{r.headers['cf-aig-log-id']}").json()["result"]
    assert log["success"] is True and log["provider"] == slug
    assert (log["tokens_in"], log["tokens_out"], log["model"]) == (case["tokens_in"], case["tokens_out"], case["model"])
