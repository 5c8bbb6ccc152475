"""Authentication as Cloudflare's API does it, and the refusal to listen openly without tokens."""

from __future__ import annotations

import subprocess
import sys

import cloudflare
import httpx
import pytest

from tests.conftest import Server


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("auth") / "data",
                 env={"KUMO_API_TOKENS": "admin-token,team-token:team1|team2"}).start()
    yield srv
    srv.stop()


def _list(url: str, account: str, headers: dict) -> httpx.Response:
    return httpx.get(f"{url}/client/v4/accounts/{account}/vectorize/v2/indexes", headers=headers)


def test_dev_mode_accepts_any_token_but_not_none(server):
    assert _list(server.url, "a", {"authorization": "Bearer anything"}).status_code == 200
    r = _list(server.url, "a", {})
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == 9106
    assert _list(server.url, "a", {"x-auth-email": "me@example.com", "x-auth-key": "k"}).status_code == 200


def test_tokens_enforced(guarded):
    ok = _list(guarded.url, "any", {"authorization": "Bearer admin-token"})
    assert ok.status_code == 200 and ok.json()["success"] is True
    bad = _list(guarded.url, "any", {"authorization": "Bearer wrong"})
    assert bad.status_code == 401 and bad.json()["errors"][0]["code"] == 10000
    missing = _list(guarded.url, "any", {})
    assert missing.status_code == 401 and missing.json()["errors"][0]["code"] == 9106
    basic = _list(guarded.url, "any", {"authorization": "Basic Zm9vOmJhcg=="})
    assert basic.status_code == 401


def test_token_limited_to_accounts(guarded):
    assert _list(guarded.url, "team2", {"authorization": "Bearer team-token"}).status_code == 200
    denied = _list(guarded.url, "other", {"authorization": "Bearer team-token"})
    assert denied.status_code == 403 and denied.json()["errors"][0]["code"] == 10000


def test_global_key_headers_and_sdk(guarded):
    headers = {"x-auth-email": "me@example.com", "x-auth-key": "admin-token"}
    assert _list(guarded.url, "x", headers).status_code == 200
    sdk = cloudflare.Cloudflare(api_token="wrong", base_url=guarded.url + "/client/v4", max_retries=0)
    with pytest.raises(cloudflare.AuthenticationError):
        sdk.vectorize.indexes.list(account_id="x")
    sdk = cloudflare.Cloudflare(api_email="me@example.com", api_key="team-token",
                                base_url=guarded.url + "/client/v4", max_retries=0)
    assert list(sdk.vectorize.indexes.list(account_id="team1")) == []
    with pytest.raises(cloudflare.PermissionDeniedError):
        sdk.vectorize.indexes.list(account_id="team3")


def test_healthz_needs_no_auth(guarded):
    assert httpx.get(guarded.url + "/healthz").status_code == 200


def test_refuses_open_address_without_tokens(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "kumo", "serve", "--host", "0.0.0.0", "--port", "1", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert result.returncode == 2
    assert "KUMO_API_TOKENS" in result.stderr
