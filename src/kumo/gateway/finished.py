"""What a finished gateway call leaves behind: the raw pieces the request already held (its Call, the answer's
bytes and headers, timings). The log writer's thread settles it: token usage, model, cost, metric counts and,
when the gateway keeps logs, a LogRecord with secrets scrubbed. The event loop only appends it to a queue
(parsing bodies and filtering headers there cost ~0.3 ms of CPU a request)."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kumo.api import body as json_body
from kumo.gateway.pricing import cost_of
from kumo.gateway.providers import CREDENTIAL_HEADERS
from kumo.gateway.providers.base import Usage
from kumo.gateway.store import LogRecord
from kumo.timestamps import iso_from_epoch

if TYPE_CHECKING:
    from kumo.gateway.pipeline import Call
    from kumo.metrics import Metrics

MAX_LOGGED_BODY = 10 * 1024 * 1024
# never logged or stored, whatever the provider: kumo's own, HTTP's, and every provider's credential headers
SECRET_HEADERS = CREDENTIAL_HEADERS | {"authorization", "cf-aig-authorization", "proxy-authorization", "cookie",
                                      "set-cookie"}


@dataclass(slots=True)
class Finished:
    call: Call
    log_id: str
    ended_at: float  # time.time()
    duration: float  # seconds
    status: int
    success: bool
    cached: bool
    response_body: bytes | None = None  # as the provider sent it (a stream: its bytes joined)
    response_type: str | None = None
    response_head: Mapping[str, str] | None = None
    stream: bool = False  # response_body is server-sent events
    metrics: Metrics | None = None

    priced_as: tuple[Usage, str, float | None] | None = None  # set by priced(): the log reuses it
    decisions: dict[str, Any] | None = None  # the request's decision log (decisions.py) as this call ended
    observers: tuple = ()  # called with (self, usage, model, cost) once settled, on the log thread (OTel spans)

    def priced(self) -> tuple[Usage, str, float | None]:
        """(token usage, model, cost in USD or None): what the log records and spend limits are charged."""
        if self.priced_as is None:
            c = self.call
            usage = self._usage()
            model = c.provider.model_of(c.path, loads(c.body)) or usage.model or ""
            model = model if isinstance(model, str) else ""  # an answer's `model` may be anything: the row is kept
            custom = c.options.custom_cost
            cost = cost_of(c.provider, model, usage, custom) if (usage.tokens_in or usage.tokens_out or custom) else None
            self.priced_as = (usage, model, cost)
        return self.priced_as

    def settle(self) -> LogRecord | None:
        """Count the call in the metrics; its log record, or None when the gateway keeps no log of it."""
        c = self.call
        usage, model, cost = self.priced()
        self._count(usage, cost)
        for observe in self.observers:
            observe(self, usage, model, cost)
        if not c.options.collect_log:
            return None
        keep = c.options.collect_payload
        counted = bool(usage.tokens_in or usage.tokens_out)
        return LogRecord(
            id=self.log_id, account=c.account, gateway=c.gateway_id, created_at=iso_from_epoch(self.ended_at),
            provider=c.provider.slug, model=model, path=c.log_path or c.path, status_code=self.status,
            success=self.success, cached=self.cached, duration=int(self.duration * 1000),
            tokens_in=usage.tokens_in if counted else None, tokens_out=usage.tokens_out if counted else None,
            cost=cost, custom_cost=c.options.custom_cost is not None, metadata=c.options.metadata, step=c.step,
            event_id=c.options.event_id, request_content_type=c.headers.get("content-type"),
            response_content_type=self.response_type,
            request_head=public_headers(c.headers),
            response_head=public_headers(self.response_head or {}),
            request_body=c.body[:MAX_LOGGED_BODY] if keep else None,
            response_body=(self.response_body or b"")[:MAX_LOGGED_BODY] if keep else None,
            decisions=self.decisions,
        )

    def _usage(self) -> Usage:
        body, provider = self.response_body, self.call.provider
        if not body:
            return Usage()
        try:
            if self.stream:
                return provider.usage_from_stream(body.decode("utf-8", "replace"))
            parsed = loads(body)
            return provider.usage_from_json(parsed) if parsed is not None else Usage()
        except (TypeError, ValueError, AttributeError, OverflowError):  # usage of an odd shape: none, the row is kept
            return Usage()

    def _count(self, usage: Usage, cost: float | None) -> None:
        m = self.metrics
        if m is None:
            return
        c = self.call
        slug = c.provider.slug
        if c.options.cache_ttl > 0 and not c.options.skip_cache:
            m.child(m.gateway_cache, "hit" if self.cached else "miss").inc()
        if not self.success:
            m.child(m.gateway_upstream_errors, slug, str(self.status)).inc()
        if usage.tokens_in:
            m.child(m.gateway_tokens, slug, "in").inc(usage.tokens_in)
        if usage.tokens_out:
            m.child(m.gateway_tokens, slug, "out").inc(usage.tokens_out)
        if cost:
            m.child(m.gateway_cost, slug).inc(cost)


def loads(raw: bytes) -> Any:
    """JSON or None. The shared decoding first (it refuses nesting a parser cannot survive); the stdlib for what
    it refuses that an upstream may still send (NaN, lone surrogates)."""
    if not raw:
        return None
    try:
        return json_body.loads(raw)
    except json_body.JsonRefused:
        if json_body.too_deep(raw):
            return None
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return None


def public_headers(headers: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for k, v in headers.items():
        name = _public_name(k)
        if name is not None:
            out[name] = v
    return out


@functools.lru_cache(maxsize=1024)  # a header name's verdict never changes; the same few names come every time
def _public_name(name: str) -> str | None:
    """The name in lower case, or None for a header a log must not keep."""
    k = name.lower()
    if k in SECRET_HEADERS or k.startswith("x-amz-") or "key" in k or "token" in k or "secret" in k:
        return None
    return k


