"""Dynamic routes: `model: "dynamic/<name>"` walks conditional, percentage, rate-limit and model elements."""

from __future__ import annotations

import json
import random
import uuid

import openai
import pytest

from kumo.gateway.dynamic_routing import matches
from tests.gateway.conftest import make_gateway


def el(id_, type_, props=None, **outputs):
    return {"id": id_, "type": type_, "properties": props or {},
            "outputs": {k: {"elementId": v} for k, v in outputs.items()}}


ROUTE = [
    el("s", "start", next="c"),
    el("c", "conditional", {"condition": {"metadata.plan": {"$eq": "free"}}}, true="rl", false="paid"),
    el("rl", "rate_limit", {"limitType": "count", "key": "metadata.user", "limit": 2, "interval": 3600},
       success="free", fallback="end"),
    el("free", "model", {"provider": "groq", "model": "llama-3.1-8b-instant"}, success="end", fallback="end"),
    el("paid", "model", {"provider": "openai", "model": "gpt-4o", "retries": 0}, success="end", fallback="backup"),
    el("backup", "model", {"provider": "anthropic", "model": "claude-3-5-haiku-latest"}, success="end", fallback="end"),
    el("end", "end"),
]


@pytest.fixture
def compat(gw_server, acct):
    def client(metadata: dict, fake_mode: str = "ok"):
        return openai.OpenAI(api_key="k", base_url=f"{gw_server.url}/v1/{acct}/gw/compat", max_retries=0,
                             default_headers={"cf-aig-metadata": json.dumps(metadata), "x-fake": fake_mode})
    return client


def ask(client):
    raw = client.chat.completions.with_raw_response.create(model="dynamic/support",
                                                           messages=[{"role": "user", "content": "hi"}])
    return raw.headers.get("cf-aig-provider"), raw.headers.get("cf-aig-model"), raw


def test_route_lifecycle_and_walk(admin, compat, fake):
    make_gateway(admin)
    r = admin.post("/gateways/gw/routes", json={"name": "support", "elements": ROUTE})
    assert r.status_code == 200, r.text
    route = r.json()["result"]
    assert route["version"] == 1 and [x["name"] for x in admin.get("/gateways/gw/routes").json()["result"]] == ["support"]

    assert ask(compat({"plan": "pro"}))[:2] == ("openai", "gpt-4o")
    provider, model, raw = ask(compat({"plan": "pro"}, f"fail-once:dyn-{uuid.uuid4().hex}"))  # openai fails -> anthropic backup
    assert provider == "anthropic"
    assert raw.parse().choices[0].message.content == "Hello from the fake provider."
    free = compat({"plan": "free", "user": "u1"})
    assert ask(free)[:2] == ("groq", "llama-3.1-8b-instant") and ask(free)[0] == "groq"
    with pytest.raises(openai.BadRequestError):  # the third within the hour: fallback leads to the end
        ask(free)
    assert ask(compat({"plan": "free", "user": "u2"}))[0] == "groq"  # limits are per key

    updated = admin.patch(f"/gateways/gw/routes/{route['id']}", json={"elements": [
        el("s", "start", next="p"),
        el("p", "percentage", {}, **{"100%": "m1", "else": "m2"}),
        el("m1", "model", {"provider": "mistral", "model": "mistral-small"}, success="e"),
        el("m2", "model", {"provider": "deepseek", "model": "deepseek-chat"}, success="e"),
        el("e", "end")]}).json()["result"]
    assert updated["version"] == 2
    assert ask(compat({}))[0] == "mistral"
    versions = admin.get(f"/gateways/gw/routes/{route['id']}/versions").json()["result"]
    assert [v["version"] for v in versions] == [1, 2]
    redeployed = admin.post(f"/gateways/gw/routes/{route['id']}/deployments", json={"version": 1}).json()["result"]
    assert redeployed["version"] == 3 and redeployed["elements"] == ROUTE
    assert admin.delete(f"/gateways/gw/routes/{route['id']}").status_code == 200
    with pytest.raises(openai.BadRequestError):
        ask(compat({}))


@pytest.mark.parametrize("elements, needle", [
    ([], "non-empty"),
    ([el("a", "model", {"provider": "openai", "model": "x"})], "start"),
    ([el("s", "start", next="zz")], "unknown element"),
    ([el("s", "start", next="m"), el("m", "model", {"provider": "nowhere", "model": "x"})], "provider"),
    ([el("s", "start", next="p"), el("p", "percentage", {}, **{"70%": "s", "40%": "s"})], "more than 100"),
    ([el("s", "start", next="r"), el("r", "rate_limit", {"limitType": "tokens", "limit": 1, "interval": 1})], "limitType"),
    ([el("s", "start", next="r"), el("r", "rate_limit", {"limitType": "cost", "limit": -1, "interval": 1})], "positive"),
    ([el("s", "start"), el("s", "end")], "twice"),
])
def test_route_validation(admin, elements, needle):
    make_gateway(admin)
    r = admin.post("/gateways/gw/routes", json={"name": "bad", "elements": elements})
    assert r.status_code == 400 and needle in r.json()["errors"][0]["message"]


def test_rate_limit_by_cost(admin, gw_server, acct):
    make_gateway(admin)
    elements = [
        el("s", "start", next="rl"),
        el("rl", "rate_limit", {"limitType": "cost", "key": "metadata.user", "limit": 0.01, "interval": 3600},
           success="m", fallback="cheap"),
        el("m", "model", {"provider": "openai", "model": "gpt-4o"}, success="end", fallback="end"),
        el("cheap", "model", {"provider": "groq", "model": "llama-3.1-8b-instant"}, success="end", fallback="end"),
        el("end", "end")]
    assert admin.post("/gateways/gw/routes", json={"name": "support", "elements": elements}).status_code == 200

    def client(user, cost=None):
        headers = {"cf-aig-metadata": json.dumps({"user": user})}
        if cost is not None:
            headers["cf-aig-custom-cost"] = json.dumps({"total_cost": cost})
        return openai.OpenAI(api_key="k", base_url=f"{gw_server.url}/v1/{acct}/gw/compat", max_retries=0,
                             default_headers=headers)

    assert ask(client("u1", 0.02))[0] == "openai"  # under $0.01 before it: allowed, then $0.02 is counted
    assert ask(client("u1"))[0] == "groq"  # over: the fallback branch
    assert ask(client("u2"))[0] == "openai"  # per key


def test_condition_language():
    ctx = {"metadata": {"plan": "free", "n": 5}, "body": {"model": "dynamic/x"}}
    assert matches({"metadata.plan": "free"}, ctx)
    assert matches({"metadata.n": {"$gte": 5, "$lt": 9}}, ctx)
    assert matches({"metadata.plan": {"$in": ["free", "trial"]}}, ctx)
    assert not matches({"metadata.plan": {"$ne": "free"}}, ctx)
    assert not matches({"metadata.missing": {"$gt": 1}}, ctx)
    rng = random.Random(0)
    assert 0 <= rng.random() < 1
