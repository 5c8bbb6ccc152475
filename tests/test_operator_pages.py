"""/metrics, /openapi.json and /docs: open in dev mode; with API tokens, behind a token (an unrestricted one for
the metrics, which count every account) unless `public_metrics` / `public_docs` open them."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Server

TOKENS = "root-token,team-token:team-acct"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("pages") / "data", env={"KUMO_API_TOKENS": TOKENS}).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def opened(tmp_path_factory):
    env = {"KUMO_API_TOKENS": TOKENS, "KUMO_PUBLIC_METRICS": "true", "KUMO_PUBLIC_DOCS": "true"}
    srv = Server(tmp_path_factory.mktemp("pages-public") / "data", env=env).start()
    yield srv
    srv.stop()


def _get(srv: Server, path: str, token: str | None = None) -> httpx.Response:
    return httpx.get(srv.url + path, headers={"authorization": f"Bearer {token}"} if token else {}, timeout=30)


def _refused(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is False and body["errors"][0]["code"] in (9106, 10000)


def test_dev_mode_pages_are_open(server):
    assert "kumo_http_requests_total" in _get(server, "/metrics").text
    assert _get(server, "/openapi.json").json()["info"]["title"] == "kumo"
    assert "swagger-ui" in _get(server, "/docs").text


def test_with_tokens_the_pages_need_one(guarded):
    for path in ("/metrics", "/openapi.json", "/docs"):
        _refused(_get(guarded, path), 401)
        _refused(_get(guarded, path, "wrong"), 401)
    # the metrics count every account's traffic: a token limited to some accounts is not enough
    _refused(_get(guarded, "/metrics", "team-token"), 403)
    metrics = _get(guarded, "/metrics", "root-token")
    assert metrics.status_code == 200 and "kumo_http_requests_total" in metrics.text
    assert metrics.headers["content-type"].startswith("text/plain")
    schema = _get(guarded, "/openapi.json", "team-token")
    assert schema.status_code == 200 and "/client/v4/accounts/{account_id}/ai-gateway/gateways" in schema.json()["paths"]
    # a browser opening /docs passes the token in the address; the page loads the schema with it
    page = httpx.get(guarded.url + "/docs", params={"token": "team-token"})
    assert page.status_code == 200 and "/openapi.json?token=team-token" in page.text
    assert httpx.get(guarded.url + "/openapi.json", params={"token": "team-token"}).status_code == 200
    assert httpx.get(guarded.url + "/metrics", params={"token": "root-token"}).status_code == 200


def test_public_settings_open_them(opened):
    assert _get(opened, "/metrics").status_code == 200
    assert _get(opened, "/openapi.json").status_code == 200
    assert _get(opened, "/docs").status_code == 200
    _refused(_get(opened, "/client/v4/accounts/a/ai-gateway/gateways"), 401)  # the API itself stays guarded
