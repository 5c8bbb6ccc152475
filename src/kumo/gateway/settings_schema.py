"""A gateway's settings as the management API sends them (snake_case), validated with pydantic."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError, field_validator

from kumo.api.body import describe_validation_error
from kumo.errors import InvalidRequest
from kumo.gateway.controls import dlp, guardrails, otel, spend
from kumo.gateway.logpush import encryption

GATEWAY_ID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,63}$")

# The rule: every setting the schema accepts is applied, or refused here when set to anything but its off value.
# Each entry: the field, its off value(s), and why kumo refuses anything else.
REFUSED: dict[str, tuple[tuple[Any, ...], str]] = {
    "zdr": ((False,), "zero data retention is a contract with the providers of Cloudflare's Unified Billing, which "
                      "kumo does not have; to keep no bodies, send `cf-aig-collect-log-payload: false` or set "
                      "collect_logs to false"),
    "workers_ai_billing_mode": ((None, "postpaid"), "kumo has no Unified Billing: Workers AI runs on this "
                                                    "machine and is never billed"),
    "store_id": ((None, ""), "kumo has no Secrets Store: provider keys are stored, encrypted, with the gateway's "
                             "provider keys API (/gateways/{id}/provider_configs)"),
    "stripe": ((None,), "kumo has no Stripe usage billing"),
    "log_classification": ((None, False), "kumo has no log classifier"),
}
# The controls kumo applies: each module validates its own setting (the value stored, or an error naming the field).
CONTROLS: dict[str, Callable[[Any], Any]] = {
    "spend_limits": spend.validate,
    "dlp": dlp.validate,
    "guardrails": guardrails.validate,
    "otel": otel.validate,
    "logpush_public_key": encryption.validate,
}


class GatewaySettings(BaseModel):
    model_config = ConfigDict(extra="ignore")

    cache_invalidate_on_update: StrictBool
    cache_ttl: StrictInt | None = Field(ge=0, le=30 * 24 * 3600)
    collect_logs: StrictBool
    rate_limiting_interval: StrictInt | None = Field(ge=1, le=365 * 24 * 3600)
    rate_limiting_limit: StrictInt | None = Field(ge=1)
    rate_limiting_technique: Literal["fixed", "sliding"] | None = None
    authentication: StrictBool = False
    log_management: StrictInt | None = Field(default=None, ge=1, le=10_000_000)
    log_management_strategy: Literal["STOP_INSERTING", "DELETE_OLDEST"] | None = None
    logpush: StrictBool = False
    logpush_public_key: str | None = None
    retry_max_attempts: StrictInt | None = Field(default=None, ge=1, le=5)
    retry_delay: StrictInt | None = Field(default=None, ge=0, le=60000)
    retry_backoff: Literal["constant", "linear", "exponential"] | None = None
    byok_only: StrictBool = False
    zdr: StrictBool = False
    workers_ai_billing_mode: Literal["postpaid", "unified"] | None = None
    store_id: str | None = None
    otel: list[dict[str, Any]] | None = None
    dlp: dict[str, Any] | None = None
    guardrails: dict[str, Any] | None = None
    spend_limits: dict[str, Any] | None = None
    stripe: dict[str, Any] | None = None
    log_classification: Any = None

    @field_validator("rate_limiting_technique", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


def _is_off(value: Any, off: tuple[Any, ...]) -> bool:
    if isinstance(value, dict) and value.get("enabled") is False:
        return True  # a control sent switched off, as the dashboard and the SDK send it
    return any(value == o and type(value) is type(o) for o in off)


def validate_settings(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest("Expected a JSON object with the gateway's settings.")
    try:
        settings = GatewaySettings.model_validate(body)
    except ValidationError as exc:
        raise InvalidRequest(describe_validation_error(exc)) from None
    data = settings.model_dump()
    for name, check in CONTROLS.items():
        try:
            data[name] = check(data[name])
        except (ValidationError, ValueError) as exc:
            message = describe_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
            raise InvalidRequest(f"`{name}`: {message}") from None
    for name, (off, why) in REFUSED.items():
        if not _is_off(data.get(name), off):
            raise InvalidRequest(f"`{name}` cannot be {json.dumps(data.get(name))} here: {why}")
    if data["logpush"] and not data["collect_logs"]:
        raise InvalidRequest("`logpush` exports the gateway's logs: it needs collect_logs set to true")
    if (data["rate_limiting_limit"] is None) != (data["rate_limiting_interval"] is None):
        raise InvalidRequest("rate_limiting_limit and rate_limiting_interval go together: set both or neither")
    if data["rate_limiting_limit"] is not None and data["rate_limiting_technique"] is None:
        data["rate_limiting_technique"] = "fixed"
    return data


def validate_id(value: Any) -> str:
    if not isinstance(value, str) or not GATEWAY_ID.match(value):
        raise InvalidRequest("`id` must be 1-64 letters, digits, '-' or '_' (starting with a letter or digit)")
    return value
