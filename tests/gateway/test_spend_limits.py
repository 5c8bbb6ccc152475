"""Spend limits through the openai SDK against `kumo serve` (SQLite and PostgreSQL): USD budgets per metadata value,
scoped by provider and model, streams charged from their usage, checked before the provider is called."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest

from kumo.gateway.controls.spend import Budget, MemorySpendCounter, budgets
from tests.gateway.conftest import make_gateway

PER_USER = {"enabled": True, "rules": [{"id": "per-user", "limit": 0.01, "limitType": "cost", "window": 3600,
                                        "technique": "fixed", "metadata": {"user_id": {"mode": "partition"}}}]}


def client(gw_server, acct, provider="openai", **headers):
    return openai.OpenAI(api_key="sk-caller", base_url=f"{gw_server.url}/v1/{acct}/gw/{provider}/v1", max_retries=0,
                         default_headers=headers)


def ask(oa, user, cost=None, **extra):
    headers = {"cf-aig-metadata": json.dumps({"user_id": user})}
    if cost is not None:
        headers["cf-aig-custom-cost"] = json.dumps({"total_cost": cost})
    return oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                                      extra_headers=headers, **extra)


def test_budget_per_user_stops_that_user_only(gw_server, fake, admin, acct):
    make_gateway(admin, spend_limits=PER_USER)
    oa = client(gw_server, acct)
    assert ask(oa, "alice", cost=0.02).choices[0].message.content  # under budget before it: allowed, then counted
    sent = len(fake.requests)
    with pytest.raises(openai.RateLimitError) as refused:
        ask(oa, "alice")
    body = refused.value.response.json()
    assert refused.value.status_code == 429 and body["error"][0]["code"] == 2041 and body["success"] is False
    assert "per-user" in body["error"][0]["message"]
    assert len(fake.requests) == sent  # refused before the provider was called
    assert ask(oa, "bob", cost=0.004).choices  # another user has their own budget
    assert ask(oa, "bob", cost=0.004).choices
    assert ask(oa, "bob").choices  # $0.008 < $0.01
    r = oa.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert r.http_response.status_code == 200  # no user_id: a partition rule does not apply


def test_streams_are_charged_from_their_usage(gw_server, admin, acct):
    make_gateway(admin, spend_limits=PER_USER)
    oa = client(gw_server, acct)
    headers = {"cf-aig-metadata": json.dumps({"user_id": "carol"}),
               "cf-aig-custom-cost": json.dumps({"per_token_in": 0.001, "per_token_out": 0.001})}
    stream = oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True,
                                        stream_options={"include_usage": True}, extra_headers=headers)
    assert "".join((c.choices[0].delta.content or "") for c in stream if c.choices)  # 17 tokens: $0.017
    with pytest.raises(openai.RateLimitError):
        ask(oa, "carol")


def test_scoped_by_provider_and_model(gw_server, admin, acct):
    rules = {"rules": [
        {"id": "anthropic-only", "limit": 0.001, "window": 60, "provider": {"mode": "filter", "values": ["anthropic"]}},
        {"id": "big-model", "limit": 0.001, "window": 60, "technique": "sliding",
         "model": {"mode": "filter", "values": ["gpt-4o"]}},
    ]}
    make_gateway(admin, spend_limits=rules)
    oa = client(gw_server, acct)
    for _ in range(3):  # neither rule applies to openai's gpt-4o-mini
        assert ask(oa, "dave", cost=0.01).choices
    big = dict(model="gpt-4o", messages=[{"role": "user", "content": "hi"}],
               extra_headers={"cf-aig-custom-cost": json.dumps({"total_cost": 0.01})})
    assert oa.chat.completions.create(**big).choices
    with pytest.raises(openai.RateLimitError):
        oa.chat.completions.create(**big)


def test_switched_off_rules_do_not_limit(gw_server, admin, acct):
    make_gateway(admin, spend_limits={**PER_USER, "enabled": False})
    oa = client(gw_server, acct)
    for _ in range(2):
        assert ask(oa, "erin", cost=1.0).choices


def test_counter_windows():
    now = [1000.0]
    counter = MemorySpendCounter(clock=lambda: now[0])
    fixed, sliding = Budget("f", 10, "fixed", 1.0, "f"), Budget("s", 10, "sliding", 1.0, "s")

    def spent(b):
        return asyncio.run(counter.spent([b]))[0]

    asyncio.run(counter.add([fixed, sliding], 0.6))
    now[0] = 1005.0
    asyncio.run(counter.add([fixed, sliding], 0.6))
    assert spent(fixed) == pytest.approx(1.2) and spent(sliding) == pytest.approx(1.2)
    now[0] = 1010.5  # a new calendar window; the first sliding entry is older than 10 s
    assert spent(fixed) == 0 and spent(sliding) == pytest.approx(0.6)
    now[0] = 1016.0
    assert spent(sliding) == 0


def test_expired_counters_are_swept():
    now = [1000.0]
    counter = MemorySpendCounter(clock=lambda: now[0])
    for i in range(999):  # one counter per user, as a partition rule makes them
        asyncio.run(counter.add([Budget(f"u{i}", 10, "fixed" if i % 2 else "sliding", 1.0, "r")], 0.1))
    now[0] = 1100.0  # every window has passed
    asyncio.run(counter.add([Budget("fresh", 10, "fixed", 1.0, "r")], 0.1))  # the 1000th add sweeps
    assert len(counter._fixed) + len(counter._sliding) == 1


def test_budget_scopes():
    rules = {"rules": [{"limit": 1, "window": 60, "metadata": {"team": {"mode": "filter", "values": ["red"]},
                                                                "user": {"mode": "partition"}}}]}
    assert budgets(rules, "a", "g", "openai", "m", {"team": "blue", "user": "u"}) == []
    one = budgets(rules, "a", "g", "openai", "m", {"team": "red", "user": "u1"})
    two = budgets(rules, "a", "g", "openai", "m", {"team": "red", "user": "u2"})
    assert len(one) == len(two) == 1 and one[0].key != two[0].key
    raised = {"rules": [{**rules["rules"][0], "limit": 5}]}  # a new limit keeps the same counter
    assert budgets(raised, "a", "g", "openai", "m", {"team": "red", "user": "u1"})[0].key == one[0].key
