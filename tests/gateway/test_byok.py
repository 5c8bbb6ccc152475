"""Stored provider keys (BYOK) end to end: the cloudflare SDK stores them, the openai and anthropic SDKs send no
provider key, kumo puts the stored key in the provider's own header, only for callers it authenticated; aliases,
rotation, byok_only, and no key in plaintext on disk or in logs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import anthropic
import cloudflare
import httpx
import openai
import pytest

from tests.conftest import Server
from tests.gateway.conftest import PROVIDER_SLUGS, make_gateway

OPENAI_KEY = "sk-stored-OPENAI-SECRET-0001"
ANTHROPIC_KEY = "sk-ant-stored-ANTHROPIC-SECRET-0002"
TOKEN = "kumo-token-for-byok"
PLACEHOLDER = "no-provider-key"  # what an SDK that insists on an api_key is given


@pytest.fixture
def cfsdk(gw_server):
    client = cloudflare.Cloudflare(api_token="t", base_url=gw_server.url + "/client/v4", max_retries=0)
    yield client
    client.close()


def store(cfsdk, acct, slug, secret, alias="default", **kw):
    return cfsdk.ai_gateway.provider_configs.create("gw", account_id=acct, alias=alias, default_config=alias == "default",
                                                    provider_slug=slug, secret=secret, **kw)


def last_credentials(fake):
    headers = fake.requests[-1]["headers"]
    return headers.get("authorization"), headers.get("x-api-key")


def test_openai_and_anthropic_sdks_send_no_key(gw_server, fake, admin, cfsdk, acct):
    make_gateway(admin)
    created = store(cfsdk, acct, "openai", OPENAI_KEY)
    assert created.secret_preview == "****0001" and created.provider_slug == "openai"
    assert OPENAI_KEY not in created.model_dump_json()
    store(cfsdk, acct, "anthropic", ANTHROPIC_KEY)
    listed = list(cfsdk.ai_gateway.provider_configs.list("gw", account_id=acct))
    assert sorted(k.provider_slug for k in listed) == ["anthropic", "openai"]
    assert all("SECRET" not in k.model_dump_json() for k in listed)

    auth = {"cf-aig-authorization": f"Bearer {TOKEN}"}
    oa = openai.OpenAI(api_key=PLACEHOLDER, base_url=f"{gw_server.url}/v1/{acct}/gw/openai/v1", max_retries=0,
                       default_headers=auth)
    assert oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]).choices
    assert last_credentials(fake)[0] == f"Bearer {OPENAI_KEY}"
    an = anthropic.Anthropic(api_key=PLACEHOLDER, base_url=f"{gw_server.url}/v1/{acct}/gw/anthropic", max_retries=0,
                             default_headers=auth)
    msg = an.messages.create(model="claude-3-5-haiku-latest", max_tokens=16, messages=[{"role": "user", "content": "hi"}])
    assert msg.content[0].text
    assert last_credentials(fake) == (None, ANTHROPIC_KEY)
    with an.messages.stream(model="claude-3-5-haiku-latest", max_tokens=16,
                            messages=[{"role": "user", "content": "hi"}]) as stream:
        assert "".join(stream.text_stream)
    assert last_credentials(fake) == (None, ANTHROPIC_KEY)


def test_anonymous_callers_never_spend_a_stored_key(gw_server, fake, admin, cfsdk, acct):
    make_gateway(admin)
    store(cfsdk, acct, "openai", OPENAI_KEY)
    url = f"{gw_server.url}/v1/{acct}/gw/openai/chat/completions"
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    sent = len(fake.requests)
    r = httpx.post(url, json=body)  # no key, no cf-aig-authorization
    assert r.status_code == 401 and r.json()["error"][0]["code"] == 2009 and len(fake.requests) == sent
    r = httpx.post(url, json=body, headers={"cf-aig-byok-alias": "default"})
    assert r.status_code == 401 and len(fake.requests) == sent
    r = httpx.post(url, json=body, headers={"authorization": "Bearer sk-callers-own"})  # their own key: theirs
    assert r.status_code == 200 and last_credentials(fake)[0] == "Bearer sk-callers-own"


def test_aliases_rotation_and_delete(gw_server, fake, admin, cfsdk, acct):
    make_gateway(admin)
    store(cfsdk, acct, "openai", OPENAI_KEY)
    second = store(cfsdk, acct, "openai", "sk-second-key-9999", alias="second")
    url = f"{gw_server.url}/v1/{acct}/gw/openai/chat/completions"
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    auth = {"cf-aig-authorization": f"Bearer {TOKEN}"}
    assert httpx.post(url, json=body, headers={**auth, "cf-aig-byok-alias": "second"}).status_code == 200
    assert last_credentials(fake)[0] == "Bearer sk-second-key-9999"
    r = httpx.post(url, json=body, headers={**auth, "cf-aig-byok-alias": "nope"})
    assert r.status_code == 400 and r.json()["error"][0]["code"] == 2040
    store(cfsdk, acct, "openai", "sk-rotated-key-7777")  # the same alias again: a rotation
    assert httpx.post(url, json=body, headers=auth).status_code == 200
    assert last_credentials(fake)[0] == "Bearer sk-rotated-key-7777"
    assert len(list(cfsdk.ai_gateway.provider_configs.list("gw", account_id=acct))) == 2
    r = admin.delete(f"/gateways/gw/provider_configs/{second.id}")
    assert r.status_code == 200 and "sk-second" not in r.text
    assert httpx.post(url, json=body, headers={**auth, "cf-aig-byok-alias": "second"}).status_code == 400


def test_byok_only(gw_server, fake, admin, cfsdk, acct):
    make_gateway(admin, byok_only=True)
    store(cfsdk, acct, "openai", OPENAI_KEY)
    auth = {"cf-aig-authorization": f"Bearer {TOKEN}"}
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(f"{gw_server.url}/v1/{acct}/gw/openai/chat/completions", json=body,
                   headers={**auth, "authorization": "Bearer sk-callers-own"})
    assert r.status_code == 200 and last_credentials(fake)[0] == f"Bearer {OPENAI_KEY}"
    r = httpx.post(f"{gw_server.url}/v1/{acct}/gw/openai/chat/completions", json=body,
                   headers={"authorization": "Bearer sk-callers-own"})
    assert r.status_code == 401  # byok_only: only authenticated callers, only stored keys
    r = httpx.post(f"{gw_server.url}/v1/{acct}/gw/groq/openai/v1/chat/completions", json=body, headers=auth)
    assert r.status_code == 400 and r.json()["error"][0]["code"] == 2040


@pytest.mark.parametrize("body, needle", [
    ({"provider_slug": "nope", "alias": "default", "default_config": True, "secret": "k"}, "provider_slug"),
    ({"provider_slug": "aws-bedrock", "alias": "default", "default_config": True, "secret": "k"}, "SigV4"),
    ({"provider_slug": "openai", "alias": "default", "default_config": True, "secret_id": "s1"}, "Secrets Store"),
    ({"provider_slug": "openai", "alias": "a b", "default_config": True, "secret": "k"}, "alias"),
    ({"provider_slug": "openai", "alias": "default", "default_config": True}, "secret"),
])
def test_provider_key_validation(admin, body, needle):
    make_gateway(admin)
    r = admin.post("/gateways/gw/provider_configs", json=body)
    assert r.status_code == 400 and needle in r.json()["errors"][0]["message"]


def test_no_stored_key_in_plaintext_anywhere(gw_server, fake, admin, cfsdk, acct):
    make_gateway(admin)
    store(cfsdk, acct, "openai", OPENAI_KEY)
    httpx.post(f"{gw_server.url}/v1/{acct}/gw/openai/chat/completions",
               json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
               headers={"cf-aig-authorization": f"Bearer {TOKEN}"})
    admin.get("/gateways/gw/logs")  # flushed
    for path in Path(gw_server.data_dir).rglob("*"):
        if path.is_file():
            assert b"OPENAI-SECRET" not in path.read_bytes(), path
            if path.name == "provider-keys.kek":
                assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "OPENAI-SECRET" not in gw_server.logged_text()


# ---- with API tokens: a stored key is spent only for a token allowed on the account --------------------------
@pytest.fixture(scope="module")
def tokened(tmp_path_factory, fake):
    env = {"KUMO_UPSTREAM_" + s.upper().replace("-", "_"): fake.url for s in PROVIDER_SLUGS}
    env["KUMO_API_TOKENS"] = "admin-token,acct-a-token:acct-a"
    kek = tmp_path_factory.mktemp("kek") / "kek"
    kek.write_text("a-key-encryption-key-of-more-than-32-characters")
    os.chmod(kek, 0o600)
    env["KUMO_GATEWAY_KEY_ENCRYPTION_KEY_FILE"] = str(kek)
    srv = Server(tmp_path_factory.mktemp("byok-tokens") / "data", env=env).start()
    yield srv
    srv.stop()


def test_only_tokens_allowed_on_the_account_spend_it(tokened, fake):
    admin = httpx.Client(base_url=f"{tokened.url}/client/v4/accounts/acct-a/ai-gateway",
                         headers={"authorization": "Bearer admin-token"})
    make_gateway(admin)
    assert admin.post("/gateways/gw/provider_configs", json={"provider_slug": "openai", "alias": "default",
                                                             "default_config": True, "secret": OPENAI_KEY}).status_code == 200
    url = f"{tokened.url}/v1/acct-a/gw/openai/chat/completions"
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    for token, status in (("acct-a-token", 200), ("admin-token", 200), ("unknown-token", 401)):
        r = httpx.post(url, json=body, headers={"cf-aig-authorization": f"Bearer {token}"})
        assert r.status_code == status, (token, r.text)
    admin.close()


def test_a_world_readable_kek_file_is_refused(tmp_path, fake):
    kek = tmp_path / "kek"
    kek.write_text("a-key-encryption-key-of-more-than-32-characters")
    os.chmod(kek, 0o644)
    srv = Server(tmp_path / "data", env={"KUMO_GATEWAY_KEY_ENCRYPTION_KEY_FILE": str(kek)}).start()
    try:
        admin = httpx.Client(base_url=f"{srv.url}/client/v4/accounts/a/ai-gateway", headers={"authorization": "Bearer t"})
        make_gateway(admin)
        r = admin.post("/gateways/gw/provider_configs", json={"provider_slug": "openai", "alias": "default",
                                                              "default_config": True, "secret": OPENAI_KEY})
        assert r.status_code == 400 and "chmod 600" in r.json()["errors"][0]["message"]
        admin.close()
    finally:
        srv.stop()


def test_hostile_provider_key_requests(gw_server, fake, admin, acct):
    make_gateway(admin)
    for body in (b"not json", b"[]", b'{"provider_slug": "openai", "secret": "a\\nb"}', b'{"provider_slug": 5}',
                 b'{"provider_slug": "openai", "secret": "k", "rate_limit": true}',
                 b'{"provider_slug": "openai", "secret": "k", "default_config": "yes"}'):
        r = admin.post("/gateways/gw/provider_configs", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400, (body, r.text)
    r = admin.delete("/gateways/gw/provider_configs/nope")
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == 7006
    assert admin.post("/gateways/missing/provider_configs", json={"provider_slug": "openai", "secret": "k"}).status_code == 404
    url = f"{gw_server.url}/v1/{acct}/gw/openai/chat/completions"
    for alias in ("../../etc", "x" * 500, "ünïcode".encode()):  # raw UTF-8 bytes in a header
        r = httpx.post(url, json={"model": "gpt-4o-mini", "messages": []},
                       headers=[(b"cf-aig-authorization", b"Bearer t"),
                                (b"cf-aig-byok-alias", alias if isinstance(alias, bytes) else alias.encode())])
        assert r.status_code == 400 and r.json()["error"][0]["code"] == 2040


def test_a_stored_keys_own_rate_limit(gw_server, fake, admin, cfsdk, acct):
    make_gateway(admin)
    created = store(cfsdk, acct, "openai", OPENAI_KEY, rate_limit=2, rate_limit_period=3600)
    assert created.rate_limit == 2 and created.rate_limit_period == 3600
    url = f"{gw_server.url}/v1/{acct}/gw/openai/chat/completions"
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    auth = {"cf-aig-authorization": f"Bearer {TOKEN}"}
    statuses = [httpx.post(url, json=body, headers=auth).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    r = httpx.post(url, json=body, headers={**auth, "authorization": "Bearer sk-own"})  # the stored key is still
    assert r.status_code == 429  # the one an authenticated caller spends, and it is spent for this hour


def test_third_party_models_on_workers_ai_openai_api(gw_server, fake, admin, cfsdk, acct):
    """Cloudflare's unified REST API: `openai/...` and `anthropic/...` on `/ai/v1/chat/completions` go through the
    `default` gateway (or the one `cf-aig-gateway-id` names) with the stored provider key; the API token never
    reaches the provider."""
    base = f"{gw_server.url}/client/v4/accounts/{acct}/ai/v1"
    oa = openai.OpenAI(api_key="t", base_url=base, max_retries=0)
    ask = {"messages": [{"role": "user", "content": "hi"}]}
    oa.chat.completions.create(model="openai/gpt-4o-mini", **ask)  # no stored key yet: the provider gets none
    assert last_credentials(fake) == (None, None)  # (the fake answers anyway; OpenAI would say 401)
    assert admin.get("/gateways/default").status_code == 200  # made on first use
    cfsdk.ai_gateway.provider_configs.create("default", account_id=acct, alias="default", default_config=True,
                                             provider_slug="openai", secret=OPENAI_KEY)
    cfsdk.ai_gateway.provider_configs.create("default", account_id=acct, alias="default", default_config=True,
                                             provider_slug="anthropic", secret=ANTHROPIC_KEY)
    done = oa.chat.completions.with_raw_response.create(model="openai/gpt-4o-mini", **ask)
    assert done.parse().choices[0].message.content and done.headers["cf-aig-log-id"]
    assert last_credentials(fake) == (f"Bearer {OPENAI_KEY}", None)
    chunks = list(oa.chat.completions.create(model="anthropic/claude-3-5-haiku-latest", max_tokens=20, stream=True,
                                             **ask))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert last_credentials(fake) == (None, ANTHROPIC_KEY)
    logs = admin.get("/gateways/default/logs").json()["result"]
    assert {row["provider"] for row in logs} >= {"openai", "anthropic"}
    # a gateway that does not exist is refused; @cf ids still run on Workers AI without a gateway
    with pytest.raises(openai.BadRequestError):
        openai.OpenAI(api_key="t", base_url=base, max_retries=0, default_headers={"cf-aig-gateway-id": "nope"}
                      ).chat.completions.create(model="openai/gpt-4o-mini", **ask)
