"""Secrets in a query string never reach the log, however the app is served: `create_app` alone redacts (here
uvicorn is started by hand, as an embedding application would, not by `kumo serve`)."""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from kumo.api.redaction import redact
from kumo.app import create_app
from kumo.config import Settings
from tests.conftest import app_in_thread


def test_redact_names_and_spares():
    secret = "s" + "3cr3t" * 4
    assert redact(f"/v1/a/g/google-ai-studio/x?key={secret}&alt=sse") == "/v1/a/g/google-ai-studio/x?key=[redacted]&alt=sse"
    assert secret not in redact(f"/o?X-Amz-Signature={secret}")
    assert redact("/o?monkey=1") == "/o?monkey=1"  # `key` as a whole parameter name only
    assert redact(7) == 7


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("redaction")))
    with app_in_thread(app) as url:
        yield url


def test_access_line_of_an_app_served_without_kumo_serve_is_redacted(served, caplog):
    secret = "g" + "00gl3" * 5
    caplog.set_level(logging.INFO, logger="kumo.access")
    httpx.get(f"{served}/healthz?key={secret}&token={secret}", timeout=30)
    deadline = time.monotonic() + 10
    while not any("/healthz" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [r.getMessage() for r in caplog.records if r.name == "kumo.access"]
    assert any("/healthz?key=[redacted]&token=[redacted]" in line for line in lines), lines
    assert not any(secret in line for line in lines)
    for name in ("uvicorn.access", "uvicorn.error"):
        record = logging.LogRecord(name, logging.INFO, __file__, 1, "%s", (f"/ws?token={secret}",), None)
        assert all(f.filter(record) for f in logging.getLogger(name).filters)
        assert secret not in record.getMessage()
