"""Who may use a gateway when API tokens are configured (README, "Who may use a gateway"). As on Cloudflare, a
gateway is public unless it is authenticated; but gateways come into being only for a caller whose
`cf-aig-authorization` token may act on the account, so an anonymous caller creates nothing — no gateway, no log,
no cache entry, no limit counter — in an account no token has set up. `gateway_require_auth` makes every
gateway authenticated. Driven with the openai SDK (data plane) and the cloudflare SDK (what exists afterwards)."""

from __future__ import annotations

import uuid

import cloudflare
import httpx
import openai
import pytest

from tests.conftest import PROVIDER_SLUGS, Server

TOKENS = "root-token,team-token:team-acct"


def _server(tmp_path_factory, fake, name: str, **extra: str) -> Server:
    env = {"KUMO_UPSTREAM_" + slug.upper().replace("-", "_"): fake.url for slug in PROVIDER_SLUGS}
    env.update({"KUMO_API_TOKENS": TOKENS, **extra})
    return Server(tmp_path_factory.mktemp(name) / "data", env=env).start()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory, fake):
    srv = _server(tmp_path_factory, fake, "gw-guarded", KUMO_GATEWAY_AUTO_CREATE="true")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def require_auth(tmp_path_factory, fake):
    srv = _server(tmp_path_factory, fake, "gw-require-auth", KUMO_GATEWAY_REQUIRE_AUTH="true")
    yield srv
    srv.stop()


def _cf(srv: Server) -> cloudflare.Cloudflare:
    return cloudflare.Cloudflare(api_token="root-token", base_url=srv.url + "/client/v4", max_retries=0)


def _chat(srv: Server, account: str, gateway: str = "default", **headers: str):
    client = openai.OpenAI(api_key="sk-provider-key", base_url=f"{srv.url}/v1/{account}/{gateway}/openai",
                           default_headers=headers, max_retries=0)
    return client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}])


def _refused(call) -> dict:
    with pytest.raises(openai.AuthenticationError) as exc:
        call()
    body = exc.value.response.json()
    assert exc.value.status_code == 401 and body["error"][0]["code"] == 2009 and body["name"] == "AiGatewayError"
    return body


def _gateways(srv: Server, account: str) -> list[str]:
    with _cf(srv) as cf:
        return [g.id for g in cf.ai_gateway.list(account_id=account)]


def test_anonymous_callers_create_nothing_in_an_unused_account(guarded, fake):
    fresh = "never-used-" + uuid.uuid4().hex[:8]
    before = len(fake.requests)
    caching = {"cf-aig-cache-ttl": "3600", "cf-aig-metadata": '{"user": "x"}'}
    for gateway in ("default", "made-up"):  # `default`, and any gateway with gateway_auto_create
        body = _refused(lambda: _chat(guarded, fresh, gateway, **caching))
        assert "cf-aig-authorization" in body["error"][0]["message"]
    # a wrong token, and a token limited to another account, are anonymous too
    _refused(lambda: _chat(guarded, fresh, **{"cf-aig-authorization": "Bearer wrong"}))
    _refused(lambda: _chat(guarded, fresh, **{"cf-aig-authorization": "Bearer team-token"}))
    base = f"{guarded.url}/v1/{fresh}/default"
    universal = httpx.post(base, json=[{"provider": "openai", "endpoint": "chat/completions",
                                        "headers": {"authorization": "Bearer sk"}, "query": {"model": "m"}}])
    compat = httpx.post(f"{base}/compat/chat/completions", headers={"authorization": "Bearer sk"},
                        json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]})
    assert universal.status_code == compat.status_code == 401
    assert len(fake.requests) == before  # nothing went upstream
    assert _gateways(guarded, fresh) == []  # no gateway, so no logs, cache entries or limits under one
    with _cf(guarded) as cf, pytest.raises(cloudflare.NotFoundError):
        cf.ai_gateway.logs.list("default", account_id=fresh)


def test_a_token_holder_sets_the_gateway_up_then_it_is_public(guarded):
    account = "team-acct"
    raw = _chat(guarded, account, **{"cf-aig-authorization": "Bearer team-token"})
    assert raw.http_response.status_code == 200 and raw.headers["cf-aig-log-id"]
    assert _gateways(guarded, account) == ["default"]
    # Cloudflare's rule: a gateway that exists and is not authenticated answers anyone with a provider key
    anonymous = _chat(guarded, account)
    assert anonymous.http_response.status_code == 200
    with _cf(guarded) as cf:
        logs = list(cf.ai_gateway.logs.list("default", account_id=account))
        assert len(logs) == 2
        cf.ai_gateway.create(account_id=account, id="private", authentication=True, cache_invalidate_on_update=False,
                             cache_ttl=0, collect_logs=True, rate_limiting_interval=None, rate_limiting_limit=None)
    _refused(lambda: _chat(guarded, account, "private"))
    assert _chat(guarded, account, "private", **{"cf-aig-authorization": "Bearer root-token"}) \
        .http_response.status_code == 200


def test_gateway_require_auth_makes_every_gateway_authenticated(require_auth):
    account = "acct-" + uuid.uuid4().hex[:8]
    with _cf(require_auth) as cf:
        cf.ai_gateway.create(account_id=account, id="open", authentication=False, cache_invalidate_on_update=False,
                             cache_ttl=0, collect_logs=True, rate_limiting_interval=None, rate_limiting_limit=None)
    _refused(lambda: _chat(require_auth, account, "open"))
    _refused(lambda: _chat(require_auth, account, "open", **{"cf-aig-authorization": "Bearer team-token"}))
    ok = _chat(require_auth, account, "open", **{"cf-aig-authorization": "Bearer root-token"})
    assert ok.http_response.status_code == 200
    with _cf(require_auth) as cf:
        assert len(list(cf.ai_gateway.logs.list("open", account_id=account))) == 1
