"""The rule, walked over the gateway schema: every field the management API accepts is applied (a test proves its
effect) or refused with a 400 that names it and says why, when set to anything but its off value."""

from __future__ import annotations

import importlib

import pytest

from kumo.gateway.settings_schema import CONTROLS, REFUSED, GatewaySettings
from tests.gateway.conftest import make_gateway

REQUIRED = dict(cache_invalidate_on_update=False, cache_ttl=None, collect_logs=True, rate_limiting_interval=None,
                rate_limiting_limit=None)

# field -> the test that proves its effect ("module::function")
APPLIED = {
    "cache_invalidate_on_update": "tests.gateway.test_cache_limits_retries::test_update_invalidates_cache_when_asked",
    "cache_ttl": "tests.gateway.test_cache_limits_retries::test_cache_hit_miss_skip_and_key",
    "collect_logs": "tests.gateway.test_management::test_gateway_without_logs",
    "rate_limiting_interval": "tests.gateway.test_cache_limits_retries::test_rate_limit_exact_under_concurrency",
    "rate_limiting_limit": "tests.gateway.test_cache_limits_retries::test_rate_limit_exact_under_concurrency",
    "rate_limiting_technique": "tests.gateway.test_cache_limits_retries::test_rate_limit_exact_under_concurrency",
    "authentication": "tests.gateway.test_management::test_authenticated_gateway",
    "log_management": "tests.gateway.test_management::test_log_retention",
    "log_management_strategy": "tests.gateway.test_management::test_log_retention",
    "retry_max_attempts": "tests.gateway.test_cache_limits_retries::test_gateway_retry_settings_apply",
    "retry_delay": "tests.gateway.test_cache_limits_retries::test_gateway_retry_settings_apply",
    "retry_backoff": "tests.gateway.test_cache_limits_retries::test_gateway_retry_settings_apply",
    "spend_limits": "tests.gateway.test_spend_limits::test_budget_per_user_stops_that_user_only",
    "byok_only": "tests.gateway.test_byok::test_byok_only",
    "dlp": "tests.gateway.test_dlp::test_each_detector_blocks_a_prompt",
    "guardrails": "tests.gateway.test_guardrails::test_prompt_blocked_and_flagged",
    "otel": "tests.gateway.test_otel::test_each_call_is_a_genai_span",
    "logpush": "tests.gateway.test_logpush::test_logs_pushed_to_r2_sealed",
    "logpush_public_key": "tests.gateway.test_logpush::test_logs_pushed_to_r2_sealed",
}

# a value other than the field's off value, for each refused field
NOT_OFF = {
    "zdr": True,
    "workers_ai_billing_mode": "unified", "store_id": "store-1", "stripe": {"authorization": "sk_x"},
    "log_classification": {"enabled": True},
}


def test_every_field_is_applied_or_refused():
    fields = set(GatewaySettings.model_fields)
    assert fields == set(APPLIED) | set(REFUSED), "each field is applied (with its test) or refused"
    assert not set(APPLIED) & set(REFUSED)
    assert set(CONTROLS) <= set(APPLIED)
    for field, where in APPLIED.items():
        module, function = where.split("::")
        assert callable(getattr(importlib.import_module(module), function, None)), f"{field}: {where} is missing"


@pytest.mark.parametrize("field", sorted(REFUSED))
def test_refused_fields_name_themselves(admin, field):
    r = admin.post("/gateways", json={"id": "refused", **REQUIRED, field: NOT_OFF[field]})
    assert r.status_code == 400, r.text
    message = r.json()["errors"][0]["message"]
    assert f"`{field}`" in message and ":" in message  # the field and why
    assert admin.get("/gateways/refused").status_code == 404  # nothing stored


@pytest.mark.parametrize("field", sorted(REFUSED))
def test_refused_fields_accept_their_off_value(admin, field):
    off = REFUSED[field][0][0]
    gateway = make_gateway(admin, "off-" + field.replace("_", "-"), **{field: off})
    assert gateway[field] == off


def test_update_cannot_sneak_a_refused_field_in(admin):
    make_gateway(admin, "upd")
    r = admin.put("/gateways/upd", json={**REQUIRED, "zdr": True})
    assert r.status_code == 400 and "`zdr`" in r.json()["errors"][0]["message"]
    assert admin.get("/gateways/upd").json()["result"]["zdr"] is False


@pytest.mark.parametrize("field, value, needle", [
    ("spend_limits", {"rules": [{"limit": 1, "window": 60, "surprise": 1}]}, "surprise"),
    ("spend_limits", {"rules": [{"limit": -1, "window": 60}]}, "limit"),
    ("spend_limits", {"rules": [{"limit": 1, "window": 60, "limitType": "count"}]}, "limitType"),
    ("spend_limits", {"rules": [{"limit": 1, "window": 60, "model": {"mode": "filter"}}]}, "values"),
])
def test_controls_name_what_is_wrong(admin, field, value, needle):
    r = admin.post("/gateways", json={"id": "bad", **REQUIRED, field: value})
    assert r.status_code == 400, r.text
    message = r.json()["errors"][0]["message"]
    assert f"`{field}`" in message and needle in message


def test_the_cloudflare_sdk_sets_every_control(gw_server, acct):
    """The SDK's own shapes (limitType, P1-less guardrails aside, off values of the refused fields) go through."""
    import cloudflare

    cf = cloudflare.Cloudflare(api_token="t", base_url=gw_server.url + "/client/v4", max_retries=0)
    cf.ai_gateway.create(account_id=acct, id="sdk", **REQUIRED)
    updated = cf.ai_gateway.update(
        "sdk", account_id=acct, **REQUIRED, logpush=False, zdr=False, byok_only=False, log_classification=False,
        workers_ai_billing_mode="postpaid", authentication=False,
        spend_limits={"enabled": True, "rules": [{"id": "r", "limit": 5.0, "limitType": "cost", "window": 3600,
                                                  "metadata": {"user_id": {"mode": "partition"}}}]},
        dlp={"enabled": True, "action": "FLAG", "profiles": ["personal-information"]},
        otel=[{"url": "http://127.0.0.1:4318/v1/traces", "headers": {}, "content_type": "protobuf"}])
    stored = cf.ai_gateway.get("sdk", account_id=acct).model_dump()
    assert stored["spend_limits"]["rules"][0]["limit"] == 5.0 and stored["dlp"]["action"] == "FLAG"
    assert stored["otel"][0]["url"].endswith("/v1/traces") and updated.id == "sdk"
    with pytest.raises(cloudflare.BadRequestError) as refused:
        cf.ai_gateway.update("sdk", account_id=acct, **REQUIRED, zdr=True)
    assert "`zdr`" in str(refused.value)
    cf.close()
