"""Operations: request ids (`cf-ray`), kumo's own access lines in text and JSON, no secret in either, and a
SIGTERM that lets requests in flight finish, flushes gateway logs and exits 0."""

from __future__ import annotations

import io
import json
import logging
import re
import signal
import threading
import time
import uuid

import httpx
import pytest

from kumo.config import Settings
from kumo.log_format import JsonFormatter, RequestIdStamp, TextFormatter
from tests.conftest import PROVIDER_SLUGS, Server
from tests.gateway.conftest import make_gateway

SECRET = "OPS-SECRET"  # every credential below contains it; neither log format may
HEX16 = re.compile(r"[0-9a-f]{16}")


def upstream_env(fake) -> dict[str, str]:
    return {"KUMO_UPSTREAM_" + slug.upper().replace("-", "_"): fake.url for slug in PROVIDER_SLUGS}


def admin_client(srv: Server, acct: str) -> httpx.Client:
    return httpx.Client(base_url=f"{srv.url}/client/v4/accounts/{acct}/ai-gateway",
                        headers={"authorization": "Bearer admin"}, timeout=30)


def traffic(srv: Server, acct: str) -> dict[str, httpx.Response]:
    """Requests carrying credentials in every place a client puts them."""
    with admin_client(srv, acct) as admin:
        make_gateway(admin)
    v1 = f"{srv.url}/v1/{acct}/gw"
    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "ops"}]}
    out = {
        "reused": httpx.get(srv.url + "/healthz", headers={"x-request-id": f"client-{acct}"}),
        "ray": httpx.get(srv.url + "/healthz", headers={"cf-ray": f"8f2b3c4d5e6f7a8b-{acct}"}),
        "unacceptable": httpx.get(srv.url + "/healthz", headers={"x-request-id": "not ok " + "x" * 200}),
        "openai": httpx.post(f"{v1}/openai/chat/completions", json=chat, timeout=30,
                             headers={"authorization": f"Bearer sk-{SECRET}"}),
        "anthropic": httpx.post(f"{v1}/anthropic/v1/messages", timeout=30, headers={"x-api-key": f"sk-ant-{SECRET}"},
                                json={"model": "claude-3-haiku", "max_tokens": 5, "messages": []}),
        "google": httpx.post(f"{v1}/google-ai-studio/v1beta/models/gemini-2.5-flash:generateContent", timeout=30,
                             params={"key": f"AIza-{SECRET}", "alt": "json"}, json={"contents": []}),
        "v4": httpx.get(f"{srv.url}/client/v4/accounts/{acct}/vectorize/v2/indexes",
                        params={"token": f"t-{SECRET}"}, headers={"authorization": f"Bearer {SECRET}"}),
        "missing": httpx.get(srv.url + "/no/such/route"),
    }
    return out


@pytest.fixture(scope="module")
def json_server(tmp_path_factory, fake):
    srv = Server(tmp_path_factory.mktemp("ops-json") / "data", env=upstream_env(fake),
                 args=["--log-format", "json"]).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def text_server(tmp_path_factory, fake):
    srv = Server(tmp_path_factory.mktemp("ops-text") / "data", env=upstream_env(fake)).start()
    yield srv
    srv.stop()


def json_lines(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line is JSON, or this raises


def access_line(records: list[dict], request_id: str) -> dict:
    found = [r for r in records if r["logger"] == "kumo.access" and r["request_id"] == request_id]
    assert len(found) == 1, (request_id, found)
    return found[0]


def test_request_ids_answered_and_reused(json_server, acct):
    r = traffic(json_server, acct)
    assert r["reused"].headers["cf-ray"] == f"client-{acct}"
    assert r["ray"].headers["cf-ray"] == f"8f2b3c4d5e6f7a8b-{acct}"
    assert HEX16.fullmatch(r["unacceptable"].headers["cf-ray"])  # a made-up header is not echoed
    for name in ("openai", "anthropic", "google", "v4", "missing"):
        assert HEX16.fullmatch(r[name].headers["cf-ray"]), name
        assert len(r[name].headers.get_list("cf-ray")) == 1
    assert len({resp.headers["cf-ray"] for resp in r.values()}) == len(r)


def test_json_access_lines(json_server, acct):
    r = traffic(json_server, acct)
    records = json_lines(json_server.logged_text())
    for record in records:
        assert {"ts", "level", "logger"} <= record.keys()
        assert "message" in record or record["logger"] == "kumo.access"
    line = access_line(records, r["openai"].headers["cf-ray"])
    assert line["method"] == "POST" and line["status"] == 200 and line["path"] == f"/v1/{acct}/gw/openai/chat/completions"
    assert line["product"] == "gateway" and line["route"] == "/v1/{account_id}/{gateway_id}/{provider}/{path:path}"
    assert line["duration_ms"] > 0 and line["bytes"] == len(r["openai"].content)
    assert line["client"].startswith("127.0.0.1:") and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"])
    assert line["gateway_log_id"] == r["openai"].headers["cf-aig-log-id"]  # joins the line to the gateway's row
    google = access_line(records, r["google"].headers["cf-ray"])
    assert google["path"].endswith("?key=[redacted]&alt=json")
    assert access_line(records, f"client-{acct}")["path"] == "/healthz"
    assert access_line(records, r["missing"].headers["cf-ray"])["status"] == 404
    assert access_line(records, r["v4"].headers["cf-ray"])["product"] == "vectorize"
    assert not [rec for rec in records if rec["logger"] == "uvicorn.access"]  # one access line, kumo's


def test_text_access_lines(text_server, acct):
    r = traffic(text_server, acct)
    text = text_server.logged_text()
    assert f'[client-{acct}]: 127.0.0.1:' in text and '"GET /healthz" 200' in text
    ray = r["openai"].headers["cf-ray"]
    assert re.search(rf"INFO kumo.access \[{ray}\]: 127\.0\.0\.1:\d+ \"POST /v1/{acct}/gw/openai/chat/completions\" "
                     r"200 \d+B [\d.]+ms", text)
    assert "key=[redacted]&alt=json" in text
    assert "HTTP/1.1\" 200" not in text  # uvicorn's own access log is off


@pytest.mark.parametrize("fixture", ["json_server", "text_server"])
def test_no_secret_in_either_log_format(request, fixture, acct):
    srv = request.getfixturevalue(fixture)
    traffic(srv, acct)
    assert SECRET not in srv.logged_text()


def test_error_log_carries_the_request_id(tmp_path):
    """A 500 from an unexpected exception: the answer has cf-ray, and the error line and access line both
    carry it (the id's layer sits outside Starlette's ServerErrorMiddleware)."""
    from kumo.app import create_app

    app = create_app(Settings(data_dir=tmp_path / "data"))

    @app.get("/boom")
    async def boom():
        raise RuntimeError("kaboom")

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdStamp())
    handler.setFormatter(JsonFormatter())
    kumo_log = logging.getLogger("kumo")
    kumo_log.addHandler(handler)
    old_level = kumo_log.level
    kumo_log.setLevel(logging.INFO)
    try:
        import asyncio

        async def call():
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://kumo") as client:
                return await client.get("/boom", headers={"x-request-id": "boom-1"})

        response = asyncio.run(call())
    finally:
        kumo_log.removeHandler(handler)
        kumo_log.setLevel(old_level)
        app.state.platform.close()
    assert response.status_code == 500 and response.headers["cf-ray"] == "boom-1"
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    error = next(r for r in records if r["level"] == "ERROR")
    assert error["request_id"] == "boom-1" and "kaboom" in error["exc_info"] and error["message"]
    assert access_line(records, "boom-1")["status"] == 500


def test_formatters_outside_a_request():
    record = logging.LogRecord("kumo.x", logging.WARNING, __file__, 1, "queue %s full", ("q",), None)
    RequestIdStamp().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "queue q full" and line["level"] == "WARNING" and "request_id" not in line
    assert TextFormatter().format(record).endswith(" WARNING kumo.x: queue q full")


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("KUMO_LOG_FORMAT", "json")
    monkeypatch.setenv("KUMO_DRAIN_TIMEOUT", "5")
    s = Settings()
    assert s.log_format == "json" and s.drain_timeout == 5
    monkeypatch.setenv("KUMO_LOG_FORMAT", "xml")
    with pytest.raises(ValueError):
        Settings()


def test_sigterm_drains_requests_in_flight(tmp_path, fake):
    acct = "ops-" + uuid.uuid4().hex[:8]
    env = upstream_env(fake)
    srv = Server(tmp_path / "data", env=env, args=["--log-format", "json", "--drain-timeout", "20"]).start()
    with admin_client(srv, acct) as admin:
        make_gateway(admin)
    marker = uuid.uuid4().hex
    result: dict[str, httpx.Response] = {}

    def slow_call():
        result["r"] = httpx.post(f"{srv.url}/v1/{acct}/gw/openai/chat/completions", timeout=30,
                                 headers={"authorization": "Bearer k", "x-fake": "slow:3"},
                                 json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": marker}]})

    caller = threading.Thread(target=slow_call)
    caller.start()
    deadline = time.monotonic() + 10
    while not any(marker in json.dumps(req["body"]) for req in fake.requests):  # it reached the provider
        assert time.monotonic() < deadline
        time.sleep(0.02)
    srv.proc.send_signal(signal.SIGTERM)

    refused = False
    while caller.is_alive() and not refused:  # new connections are refused while the old request finishes
        try:
            httpx.get(srv.url + "/healthz", timeout=1)
            time.sleep(0.05)
        except httpx.ConnectError:
            refused = True
        except httpx.TransportError:
            time.sleep(0.05)
    assert refused
    caller.join(30)
    response = result["r"]
    assert response.status_code == 200 and response.json()["choices"]
    assert srv.proc.wait(30) == 0
    srv._log.close()

    records = json_lines(srv.log.read_text())  # the server has stopped: close() wrote what was left
    line = access_line(records, response.headers["cf-ray"])
    assert line["status"] == 200 and line["duration_ms"] > 2000
    assert line["gateway_log_id"] == response.headers["cf-aig-log-id"]

    again = Server(tmp_path / "data", env=env).start()  # the log row was flushed before exit
    try:
        with admin_client(again, acct) as admin:
            logs = admin.get("/gateways/gw/logs").json()["result"]
        assert response.headers["cf-aig-log-id"] in [row["id"] for row in logs]
    finally:
        again.stop()
