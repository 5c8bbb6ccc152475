"""Per-request gateway options: the `cf-aig-*` request headers over the gateway's own settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kumo.api.body import JsonRefused, loads
from kumo.api.headers import header_int
from kumo.gateway.errors import BAD_REQUEST, GatewayError

MIN_CACHE_TTL = 60
MAX_CACHE_TTL = 30 * 24 * 3600
CUSTOM_KEY_TTL = 300  # a custom cache key on a gateway without caching: 5 minutes
MAX_METADATA = 5
# kumo's own per-request stream deadlines, in ms (Cloudflare has none): header, RequestOptions field
STREAM_DEADLINES = (("cf-aig-first-token-timeout", "first_token_ms"), ("cf-aig-stream-idle-timeout", "stream_idle_ms"))


@dataclass
class RequestOptions:
    cache_ttl: int = 0  # 0 = do not cache
    skip_cache: bool = False
    cache_key: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    collect_log: bool = True
    collect_payload: bool = True
    timeout_ms: int | None = None
    first_token_ms: int | None = None  # a stream's first answer token, counted from the step's start
    stream_idle_ms: int | None = None  # the longest silence between a stream's chunks
    max_attempts: int = 1
    retry_delay_ms: int = 0
    backoff: str = "constant"
    custom_cost: dict[str, float] | None = None
    event_id: str | None = None


def _bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise GatewayError(400, BAD_REQUEST, f"{name} must be true or false")


def _int(value: str, name: str, low: int, high: int) -> int:
    return header_int(value, name, low, high, code=BAD_REQUEST)


def parse_options(headers: dict[str, str], gateway: dict[str, Any]) -> RequestOptions:
    """`headers` lower-cased; per-request headers win over the gateway's settings."""
    o = RequestOptions(
        cache_ttl=int(gateway.get("cache_ttl") or 0),
        collect_log=bool(gateway.get("collect_logs", True)),
        max_attempts=int(gateway.get("retry_max_attempts") or 1),
        retry_delay_ms=int(gateway.get("retry_delay") or 0),
        backoff=gateway.get("retry_backoff") or "constant",
    )
    ttl = headers.get("cf-aig-cache-ttl", headers.get("cf-cache-ttl"))
    if ttl is not None:
        o.cache_ttl = _int(ttl, "cf-aig-cache-ttl", 0, MAX_CACHE_TTL)
        if 0 < o.cache_ttl < MIN_CACHE_TTL:
            o.cache_ttl = MIN_CACHE_TTL
    skip = headers.get("cf-aig-skip-cache", headers.get("cf-skip-cache"))
    if skip is not None:
        o.skip_cache = _bool(skip, "cf-aig-skip-cache")
    if headers.get("cf-aig-cache-key"):
        o.cache_key = headers["cf-aig-cache-key"]
        if o.cache_ttl == 0:
            o.cache_ttl = CUSTOM_KEY_TTL
    if headers.get("cf-aig-metadata"):
        try:
            metadata = loads(headers["cf-aig-metadata"])
        except JsonRefused as exc:
            raise GatewayError(400, BAD_REQUEST, f"cf-aig-metadata must be a JSON object: {exc.reason}") from None
        if not isinstance(metadata, dict):
            raise GatewayError(400, BAD_REQUEST, "cf-aig-metadata must be a JSON object")
        kept: dict[str, Any] = {}
        for key, value in metadata.items():  # up to 5 entries, scalar values; extras are ignored
            if len(kept) >= MAX_METADATA:
                break
            if isinstance(value, (str, int, float, bool)):
                kept[str(key)] = value
        o.metadata = kept
    if headers.get("cf-aig-collect-log") is not None:
        o.collect_log = _bool(headers["cf-aig-collect-log"], "cf-aig-collect-log")
    if headers.get("cf-aig-collect-log-payload") is not None:
        o.collect_payload = _bool(headers["cf-aig-collect-log-payload"], "cf-aig-collect-log-payload")
    timeout = headers.get("cf-aig-request-timeout", headers.get("cf-aig-request-timeout-ms"))
    if timeout is not None:
        o.timeout_ms = _int(timeout, "cf-aig-request-timeout", 1, 24 * 3600 * 1000)
    for header, name in STREAM_DEADLINES:
        if headers.get(header) is not None:
            setattr(o, name, _int(headers[header], header, 1, 24 * 3600 * 1000))
    if headers.get("cf-aig-max-attempts") is not None:
        o.max_attempts = _int(headers["cf-aig-max-attempts"], "cf-aig-max-attempts", 1, 5)
    if headers.get("cf-aig-retry-delay") is not None:
        o.retry_delay_ms = _int(headers["cf-aig-retry-delay"], "cf-aig-retry-delay", 0, 60000)
    if headers.get("cf-aig-backoff") is not None:
        o.backoff = headers["cf-aig-backoff"].strip().lower()
    if o.backoff not in ("constant", "linear", "exponential"):
        raise GatewayError(400, BAD_REQUEST, "cf-aig-backoff must be constant, linear or exponential")
    if headers.get("cf-aig-custom-cost"):
        try:
            cost = loads(headers["cf-aig-custom-cost"])
        except JsonRefused:
            cost = None
        valid = isinstance(cost, dict) and cost and set(cost) <= {"per_token_in", "per_token_out", "total_cost"} and \
            all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in cost.values())
        if not valid:
            raise GatewayError(400, BAD_REQUEST, 'cf-aig-custom-cost must be like {"per_token_in": 0.000001, '
                                                 '"per_token_out": 0.000002} or {"total_cost": 0.01}')
        o.custom_cost = cost
    if headers.get("cf-aig-event-id"):
        o.event_id = headers["cf-aig-event-id"]
    return o


def apply_step_config(o: RequestOptions, config: dict[str, Any]) -> RequestOptions:
    """A universal step's `config` (requestTimeout, maxAttempts, retryDelay, backoff; kumo's firstTokenTimeout
    and streamIdleTimeout)."""
    if not isinstance(config, dict):
        raise GatewayError(400, BAD_REQUEST, "a step's `config` must be an object")
    headers = {}
    for key, header in (("requestTimeout", "cf-aig-request-timeout"), ("maxAttempts", "cf-aig-max-attempts"),
                        ("retryDelay", "cf-aig-retry-delay"), ("backoff", "cf-aig-backoff")):
        if config.get(key) is not None:
            headers[header] = str(config[key])
    for key in ("firstTokenTimeout", "streamIdleTimeout"):
        if config.get(key) is not None:
            headers[key] = str(config[key])
    if not headers:
        return o
    copy = RequestOptions(**o.__dict__)
    for key, name in (("firstTokenTimeout", "first_token_ms"), ("streamIdleTimeout", "stream_idle_ms")):
        if key in headers:
            setattr(copy, name, _int(headers[key], key, 1, 24 * 3600 * 1000))
    if "cf-aig-request-timeout" in headers:
        copy.timeout_ms = _int(headers["cf-aig-request-timeout"], "requestTimeout", 1, 24 * 3600 * 1000)
    if "cf-aig-max-attempts" in headers:
        copy.max_attempts = _int(headers["cf-aig-max-attempts"], "maxAttempts", 1, 5)
    if "cf-aig-retry-delay" in headers:
        copy.retry_delay_ms = _int(headers["cf-aig-retry-delay"], "retryDelay", 0, 60000)
    if "cf-aig-backoff" in headers:
        copy.backoff = headers["cf-aig-backoff"].lower()
        if copy.backoff not in ("constant", "linear", "exponential"):
            raise GatewayError(400, BAD_REQUEST, "backoff must be constant, linear or exponential")
    return copy
