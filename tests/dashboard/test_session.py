"""Dashboard sessions over plain HTTP: refused without the cookie, forged or foreign cookies refused, CSRF token
and origin required on every POST, and dev mode (no tokens configured) on loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.dashboard.conftest import ADMIN_TOKEN, TEAM_TOKEN


@contextmanager
def _signed_in(url: str, token: str, account: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, headers={"origin": url}, timeout=30) as client:
        r = client.post("/dashboard/sign-in", data={"token": token, "account": account})
        assert r.status_code == 303 and r.headers["location"] == f"/dashboard/{account}", r.text
        yield client


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_without_the_cookie_reads_go_to_sign_in_and_writes_are_refused(console):
    r = httpx.get(f"{console.url}/dashboard/team-a/vectorize")
    assert r.status_code == 303 and r.headers["location"].startswith("/dashboard/sign-in?next=")
    r = httpx.post(f"{console.url}/dashboard/team-a/vectorize", data={"name": "x", "preset": "@cf/baai/bge-small-en-v1.5"},
                   headers={"origin": console.url})
    assert r.status_code == 403
    r = httpx.get(f"{console.url}/dashboard/team-a", cookies={"kumo_session": "eyJnIjoiZGV2In0.forged"})
    assert r.status_code == 303


def test_the_cookie_holds_no_token_and_a_token_sees_only_its_accounts(console):
    with _signed_in(console.url, TEAM_TOKEN, "team-a") as client:
        cookie = client.cookies["kumo_session"]
        assert TEAM_TOKEN not in cookie
        page = client.get("/dashboard/team-a")
        assert page.status_code == 200 and TEAM_TOKEN not in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert client.get("/dashboard/team-z").status_code == 403
        assert client.get("/dashboard/team-a/switch", params={"account": "team-z"}).status_code == 403
    r = httpx.post(f"{console.url}/dashboard/sign-in", data={"token": TEAM_TOKEN, "account": "team-z"},
                   headers={"origin": console.url})
    assert r.status_code == 401 and "may not act on account team-z" in r.text


def test_posts_need_the_csrf_token_and_this_origin(console):
    with _signed_in(console.url, ADMIN_TOKEN, "csrf-acct") as client:
        token = _csrf(client.get("/dashboard/csrf-acct/vectorize").text)
        body = {"name": "idx", "dimensions": "3", "metric": "cosine"}
        assert client.post("/dashboard/csrf-acct/vectorize", data=body).status_code == 403  # no token
        assert client.post("/dashboard/csrf-acct/vectorize", data={**body, "csrf": "x" + token}).status_code == 403
        evil = client.post("/dashboard/csrf-acct/vectorize", data={**body, "csrf": token},
                           headers={"origin": "http://evil.example"})
        assert evil.status_code == 403 and "Cross-site" in evil.text
        bare = httpx.post(f"{console.url}/dashboard/csrf-acct/vectorize", data={**body, "csrf": token},
                          cookies={"kumo_session": client.cookies["kumo_session"]})
        assert bare.status_code == 403  # neither Origin nor Referer
        ok = client.post("/dashboard/csrf-acct/vectorize", data={**body, "csrf": token})
        assert ok.status_code == 303 and ok.headers["location"] == "/dashboard/csrf-acct/vectorize/idx"
    r = httpx.post(f"{console.url}/dashboard/sign-in", data={"token": ADMIN_TOKEN, "account": "a"},
                   headers={"origin": "http://evil.example"})
    assert r.status_code == 403 and "set-cookie" not in r.headers


def test_home_opens_the_accounts_a_token_may_use(console):
    with _signed_in(console.url, TEAM_TOKEN, "team-b") as client:
        assert client.get("/dashboard").headers["location"] == "/dashboard/team-a"  # its first account
    with _signed_in(console.url, ADMIN_TOKEN, "x") as client:
        page = client.get("/dashboard")
        assert page.status_code == 200 and 'name="account"' in page.text  # every account: name one
        assert client.get("/dashboard", params={"account": "y"}).headers["location"] == "/dashboard/y"
    assert httpx.get(f"{console.url}/dashboard").headers["location"] == "/dashboard/sign-in"


def test_sign_in_never_redirects_elsewhere(console):
    r = httpx.post(f"{console.url}/dashboard/sign-in", headers={"origin": console.url},
                   data={"token": ADMIN_TOKEN, "account": "a", "next": "//evil.example/x"})
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/a"


def test_dev_mode_signs_in_without_a_token_on_loopback(server):
    client = httpx.Client(base_url=server.url, headers={"origin": server.url}, timeout=30)
    page = client.get("/dashboard/sign-in")
    assert "local development mode" in page.text and 'name="token"' not in page.text
    assert client.get("/dashboard/dev-acct").status_code == 303  # still needs the session cookie
    r = client.post("/dashboard/sign-in", data={"account": "dev-acct"})
    assert r.status_code == 303
    assert client.get("/dashboard/dev-acct/workers-ai").status_code == 200
    client.close()
