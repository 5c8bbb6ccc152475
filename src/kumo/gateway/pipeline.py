"""The gateway's data plane: one request through auth, rate limit, cache, upstream (with retries), the
answer streamed back untouched, then a log record with tokens and cost. No provider is named here."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from starlette.responses import Response, StreamingResponse

from kumo.api.auth import authorize
from kumo.api.sse import ClosingStreamingResponse, closed_after
from kumo.api.threads import blocking
from kumo.config import TokenGrant
from kumo.errors import KumoError
from kumo.gateway import forwarding
from kumo.gateway.breaker import StepCircuits, StepKey
from kumo.gateway.cache import CachedResponse, ResponseCache, cache_key
from kumo.gateway.continuation import Continuation, dialect_for
from kumo.gateway.errors import (
    RATE_LIMITED,
    UNAUTHORIZED,
    UPSTREAM_UNREACHABLE,
    GatewayError,
    gateway_error_response,
)
from kumo.gateway.controls import Controls
from kumo.gateway.decisions import Trail
from kumo.gateway.finished import MAX_LOGGED_BODY, Finished, loads
from kumo.gateway.logs import LogWriter, new_ulid
from kumo.gateway.options import RequestOptions
from kumo.gateway.providers.base import Provider
from kumo.gateway.ratelimit import RateLimiter
from kumo.gateway.service import GatewayService
from kumo.gateway.upstream import upstream_url
from kumo.gateway.stream_guard import StreamBroken, StreamGuard
from kumo.gateway.upstream_http import Upstream, UpstreamBroken, UpstreamResponse

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "host", "content-length", "accept-encoding"}
# the HTTP server sets these itself (`date`, `server` too: relayed, an answer would carry two of each)
RESPONSE_DROP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "date",
                 "server"}
SELF_BASE = "http://kumo.internal"


@dataclass
class Call:
    """One request to one provider (a universal step is one Call)."""

    account: str
    gateway_id: str
    gateway: dict[str, Any]
    provider: Provider
    path: str
    query: str
    method: str
    headers: dict[str, str]  # lower-cased, as received (credentials included: they go upstream)
    body: bytes
    options: RequestOptions
    step: int | None = None
    wait_for_first_byte: bool = False  # universal: a stream must start before its step counts as a success
    has_fallback: bool = False  # a next step waits: a timed-out attempt moves on instead of being retried
    response_json: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # compat translation
    response_stream: Callable[[AsyncIterator[bytes]], AsyncIterator[bytes]] | None = None
    log_path: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    budgets: list = field(default_factory=list)  # the spend limits it is charged against (controls/spend.py)
    settling: Any = None  # what the controls still do once it completes (awaited before the answer ends)
    control_headers: dict[str, str] = field(default_factory=dict)  # what the controls add to the answer
    # resilience (routes with several steps: failover.py)
    trail: Trail | None = None  # the request's decision log, kept in this call's log record
    step_name: str | None = None  # how the trail names this step when `step` is None (a dynamic route's element)
    model_name: str | None = None
    circuit: StepKey | None = None  # its circuits (breaker.py): its outcome is counted there
    # a stream that breaks after part of the answer: the next steps asked to continue it (None: nowhere to go)
    resume: Callable[[Continuation], Awaitable[Outcome | None]] | None = None
    prior_text: str = ""  # a continuation: the answer text the client had before this call
    client_format: str | None = None  # the dialect the client reads when it is not the provider's (/compat)


@dataclass
class Outcome:
    ok: bool
    response: Response
    error: KumoError | None = None
    final: bool = False  # a failure no fallback step may be asked to retry (a content-policy refusal)


class Pipeline:
    def __init__(self, *, service: GatewayService, cache: ResponseCache, limiter: RateLimiter, logs: LogWriter,
                 client: Upstream, self_client: Upstream, upstreams: dict[str, str],
                 grants: list[TokenGrant], stream_idle_timeout: float, metrics=None, require_auth: bool = False,
                 controls: Controls | None = None, first_token_timeout: float | None = None,
                 circuits: StepCircuits | None = None):
        self.service = service
        self.cache = cache
        self.limiter = limiter
        self.logs = logs
        self.client = client
        self.self_client = self_client
        self.upstreams = upstreams
        self.grants = grants
        self.stream_idle_timeout = stream_idle_timeout
        self.first_token_timeout = first_token_timeout  # None: a stream's first token waits as long as a stall
        self.circuits = circuits if circuits is not None else StepCircuits()
        self.rng = random.Random()  # dynamic routes' percentage splits
        self.metrics = metrics
        self.require_auth = require_auth  # every request needs `cf-aig-authorization` (gateway_require_auth)
        self.controls = controls

    # ---- checks before any upstream call ------------------------------------------------------------
    async def admit(self, account: str, gateway_id: str, headers: dict[str, str]) -> dict[str, Any]:
        """Who may use a gateway (README, "Who may use a gateway"): as on Cloudflare, a gateway is public unless its
        `authentication` is on; with API tokens configured, only a caller whose `cf-aig-authorization` token may act
        on the account makes a gateway come into being, so an anonymous caller creates nothing (no gateway, log, cache
        entry or limit counter) in an account no token has set up; `gateway_require_auth` makes every gateway
        authenticated."""
        checked = bool(self.grants or self.require_auth)
        refusal = self._refusal(account, headers) if checked else None
        if refusal is not None and self.require_auth:
            raise refusal
        gateway = self.service.for_request(account, gateway_id, may_create=refusal is None)
        if gateway.get("authentication"):
            refusal = refusal if checked else self._refusal(account, headers)
            if refusal is not None:
                raise refusal
        limit, interval = gateway.get("rate_limiting_limit"), gateway.get("rate_limiting_interval")
        if limit and interval:
            allowed, wait = await self.limiter.hit(f"{account}/{gateway_id}", int(limit), int(interval),
                                                   gateway.get("rate_limiting_technique") or "fixed")
            if not allowed:
                if self.metrics is not None:
                    self.metrics.gateway_rate_limited.inc()
                raise GatewayError(429, RATE_LIMITED, f"Rate limited: retry in {wait:.1f} s")
        return gateway

    def _refusal(self, account: str, headers: dict[str, str]) -> GatewayError | None:
        """None when `cf-aig-authorization` carries a token that may act on the account, else the 401 to answer."""
        try:
            authorize(self.grants, {"authorization": headers.get("cf-aig-authorization") or ""}, account)
        except KumoError:
            return GatewayError(401, UNAUTHORIZED,
                                "Unauthorized: this gateway needs `cf-aig-authorization: Bearer <API token>`")
        return None

    # ---- one call ---------------------------------------------------------------------------------------
    async def call(self, c: Call) -> Outcome:
        started = time.monotonic()
        log_id = new_ulid()
        o = c.options
        base_headers = {"cf-aig-log-id": log_id, "cf-aig-request-id": log_id}
        if o.event_id:
            base_headers["cf-aig-event-id"] = o.event_id
        if c.step is not None:
            base_headers["cf-aig-step"] = str(c.step)
        if self.controls is not None:
            await self.controls.on_request(c)  # before the cache too: a cached answer does not skip a check
        cacheable = o.cache_ttl > 0 and not o.skip_cache and c.method in ("POST", "GET")
        key = None
        if cacheable:
            # cache_invalidate_on_update: entries made before the gateway's last update no longer match
            generation = c.gateway.get("modified_at", "") if c.gateway.get("cache_invalidate_on_update") else ""
            # the API the caller used is part of it: one provider answer is sent in several formats (log_path)
            path = f"{c.log_path}>{c.path}" if c.log_path else c.path
            key = cache_key(c.account, c.gateway_id + "@" + generation, c.provider, path, c.query, c.body,
                            {**c.headers, **c.extra_headers}, o.cache_key)
            hit = await blocking(self.cache.get, key)
            if hit is not None:
                return self._replay(c, hit, log_id, base_headers, started)
            base_headers["cf-aig-cache-status"] = "MISS"
        if self.controls is not None:
            await self.controls.before_send(c)
            base_headers.update(c.control_headers)

        url = upstream_url(c.provider, c.path, c.account, self.upstreams.get(c.provider.slug), c.query)
        client = self.client
        if url.startswith("kumo://self"):
            url, client = SELF_BASE + url[len("kumo://self"):], self.self_client
        headers = {k: v for k, v in c.headers.items() if k not in HOP_BY_HOP and not k.startswith("cf-aig-")
                   and k not in ("cf-skip-cache", "cf-cache-ttl")}
        headers.update(c.extra_headers)
        try:
            sent = await forwarding.send(client, c.method, url, headers, c.body, _head_deadline(o),
                                         retry_timeouts=not c.has_fallback)
        except GatewayError as error:
            self._log(c, log_id, started, error.status, False, False, reason=error.message, fault=True)
            return Outcome(False, _gateway_error(error, base_headers), error)
        upstream = sent.response
        status = upstream.status
        response_headers = {k: v for k, v in upstream.headers.items() if k not in RESPONSE_DROP}
        response_headers.update(base_headers)
        # an error answer is read whole, whatever its type: the next step may be tried instead
        is_stream = 200 <= status < 300 and upstream.headers.get("content-type", "").startswith("text/event-stream")
        if not is_stream:
            try:
                body = await upstream.read()
            except UpstreamBroken as exc:
                await upstream.close()
                broken = GatewayError(502, UPSTREAM_UNREACHABLE, f"the provider's answer broke off: {exc}")
                self._log(c, log_id, started, 502, False, False, reason=broken.message, fault=True)
                return Outcome(False, _gateway_error(broken, base_headers), broken)
            await upstream.close()
            client_body = body
            if c.response_json is not None and 200 <= status < 300:
                try:
                    client_body = json.dumps(c.response_json(json.loads(body))).encode()
                    response_headers["content-type"] = "application/json"
                except (ValueError, TypeError, KeyError, AttributeError):
                    pass  # not the JSON we can translate: hand the provider's answer over as it is
            success = 200 <= status < 300
            blocked = None
            if self.controls is not None and success:  # a provider's own error is passed on as it is
                blocked = await self.controls.on_response(c, client_body, response_headers)
            if blocked is not None:  # the provider answered, and was paid: logged and charged, never passed on
                self._log(c, log_id, started, status, False, False, body, upstream.headers.get("content-type"),
                          upstream.headers, reason=blocked.message)
                await _settled(c)
                return Outcome(False, _gateway_error(blocked, base_headers), blocked)
            if success and key is not None and len(client_body) <= MAX_LOGGED_BODY:
                entry = CachedResponse(status, _cacheable_headers(response_headers), [client_body],
                                       time.time() + o.cache_ttl)
                await blocking(self.cache.put, key, entry)
            final = not success and c.provider.policy_refusal(status, loads(body))
            self._log(c, log_id, started, status, success, False, body, upstream.headers.get("content-type"),
                      upstream.headers, reason=None if success else _error_reason(status, body, final),
                      client=f"the provider's {status} answer" if final else None)
            await _settled(c)
            return Outcome(success, Response(client_body, status, headers=response_headers), None, final)
        return await self._stream(c, upstream, response_headers, log_id, started, key)

    # ---- streams --------------------------------------------------------------------------------------
    async def _stream(self, c: Call, upstream: UpstreamResponse, headers: dict[str, str], log_id: str,
                      started: float, key: str | None) -> Outcome:
        o = c.options
        if o.stream_idle_ms:
            idle = o.stream_idle_ms / 1000
        else:
            idle = (o.timeout_ms / 1000) if o.timeout_ms else self.stream_idle_timeout
        # read event by event only where it matters: a first token to wait for, an answer to continue
        first_token_wait = c.wait_for_first_byte or o.first_token_ms is not None
        dialect = dialect_for(c.provider, c.path) if first_token_wait or c.resume is not None else None
        # strict where a next step can take over: a malformed or error event is a break, not passed on
        guard = StreamGuard(upstream.chunks(), dialect, idle, strict=c.resume is not None, keep=MAX_LOGGED_BODY,
                            prior_text=c.prior_text)
        # a stream must start its answer before its step counts as a success (and, asked for, before a deadline)
        if first_token_wait:
            first_token = o.first_token_ms / 1000 if o.first_token_ms else self.first_token_timeout
            # counted from the step's start: the wait for the provider's headers is part of it
            remaining = max(first_token - (time.monotonic() - started), 0.0) if first_token else idle
            try:
                await guard.head(remaining)
            except StreamBroken as exc:
                await upstream.close()
                error = GatewayError(exc.status, exc.code, exc.reason)
                self._log(c, log_id, started, error.status, False, False, b"".join(guard.seen),
                          upstream.headers.get("content-type"), upstream.headers, stream=True, reason=exc.reason,
                          fault=True)
                return Outcome(False, _gateway_error(error, {k: v for k, v in headers.items() if k.startswith("cf-aig-")}),
                               error)

        async def body() -> AsyncIterator[bytes]:
            status, success, failure = upstream.status, 200 <= upstream.status < 300, None
            sent_chunks: list[bytes] = []
            source = guard.events()
            if c.response_stream is not None:
                source = c.response_stream(source)
            if self.controls is not None:
                source = self.controls.on_stream(c, source)
            event = None
            last = None  # the chunk holding `data: [DONE]`: sent once the call is logged and charged, so the
            # caller's next request sees this one's cost (spend limits)
            try:
                async for chunk in source:
                    sent_chunks.append(chunk)
                    if last is not None:
                        yield last
                        last = None
                    if b"[DONE]" in chunk:
                        last = chunk
                        continue
                    yield chunk
                complete = c.provider.stream_complete(b"".join(guard.seen).decode("utf-8", "replace"), loads(c.body))
                if success and not complete:
                    failure = "the provider's stream ended before it was complete"
            except StreamBroken as exc:
                failure = exc.reason
            except GatewayError as exc:  # a control (DLP) ended the stream
                failure, event = exc.message, _error_event(exc.message, exc.code, "blocked")
            except (asyncio.CancelledError, GeneratorExit):  # the client went away: still log what happened
                self._log(c, log_id, started, 499, False, False, b"".join(guard.seen),
                          upstream.headers.get("content-type"), upstream.headers, stream=True,
                          reason="the client left mid-stream", client="left mid-stream")
                raise
            finally:
                await upstream.close()
            seen = b"".join(guard.seen)
            if failure is not None:  # never let a broken stream look like a clean end
                success, last = False, None
                resumable = (event is None and c.resume is not None and guard.resumable and guard.content_events > 0
                             and not guard.finished)
                if resumable:  # logged once the next steps said whether they continue it
                    held = self._log(c, log_id, started, status, False, False, seen,
                                     upstream.headers.get("content-type"), upstream.headers, stream=True, fault=True,
                                     reason=f"{failure}, after {len(guard.text)} characters of the answer: the next "
                                            "steps are asked to continue it", hold=True)
                    rest = self._continue(c, guard.text, failure, held)
                    try:
                        async for chunk in rest:
                            yield chunk
                    finally:
                        await rest.aclose()  # the client left: so does the continuation
                    return
                self._log(c, log_id, started, status, False, False, seen, upstream.headers.get("content-type"),
                          upstream.headers, stream=True, reason=failure, fault=event is None,
                          client=f"an error event after {guard.content_events} answer events")
                yield event or _error_event(failure)
                await _settled(c)
                return
            if success and key is not None:
                entry = CachedResponse(status, _cacheable_headers(headers), sent_chunks,
                                       time.time() + c.options.cache_ttl)
                await blocking(self.cache.put, key, entry)
            self._log(c, log_id, started, status, success, False, seen, upstream.headers.get("content-type"),
                      upstream.headers, stream=True)
            await _settled(c)
            if last is not None:
                yield last

        # closed as soon as the client leaves: the upstream (a model generating in process) stops with it
        return Outcome(True, ClosingStreamingResponse(body(), status_code=upstream.status, headers=headers))

    async def _continue(self, c: Call, text: str, reason: str, held: Finished) -> AsyncGenerator[bytes, None]:
        """The rest of a broken answer from the next steps (their own calls, logged and charged as such), or an
        error event saying why there is none. `held`: the broken call's log, written once that is known."""
        assert c.resume is not None and c.trail is not None
        dialect = dialect_for(c.provider, c.path)
        client_format = c.client_format or (dialect.name if dialect is not None else "")
        why = None
        try:
            outcome = await c.resume(Continuation(text, client_format, reason))
        except KumoError as exc:  # a later step that is not a valid request
            outcome, why = None, exc.message
        continued = outcome is not None and outcome.ok and isinstance(outcome.response, StreamingResponse)
        if not continued:
            if outcome is not None and outcome.error is not None:
                why = outcome.error.message
            why = why or c.trail.last_reason or "no step left to try"  # (a provider's refusal, in its words)
            c.trail.client = "an error event: the answer broke off and could not be continued"
        held.decisions = c.trail.snapshot()
        self._write(c, held)
        await _settled(c)
        if not continued:
            yield _error_event(f"{reason}; the answer could not be continued: {why}")
            return
        assert outcome is not None and isinstance(outcome.response, StreamingResponse)
        async with closed_after(outcome.response.body_iterator) as rest:  # the client left: the rest stops too
            async for chunk in rest:
                yield chunk.encode() if isinstance(chunk, str) else bytes(chunk)

    def _replay(self, c: Call, hit: CachedResponse, log_id: str, base: dict[str, str], started: float) -> Outcome:
        headers = {**hit.headers, **base, "cf-aig-cache-status": "HIT"}
        text = b"".join(hit.chunks)
        stream = headers.get("content-type", "").startswith("text/event-stream")
        if stream:
            async def replay() -> AsyncIterator[bytes]:
                for chunk in hit.chunks:
                    yield chunk

            response: Response = StreamingResponse(replay(), status_code=hit.status, headers=headers)
        else:
            response = Response(text, hit.status, headers=headers)
        self._log(c, log_id, started, hit.status, True, True, text, hit.headers.get("content-type"), hit.headers,
                  stream=stream)
        return Outcome(True, response)

    # ---- logging ----------------------------------------------------------------------------------------
    def _log(self, c: Call, log_id: str, started: float, status: int, success: bool, cached: bool,
             response_body: bytes | None = None, response_type: str | None = None,
             response_head: Mapping[str, str] | None = None, stream: bool = False, *, reason: str | None = None,
             client: str | None = None, fault: bool | None = None, hold: bool = False) -> Finished:
        """Hand the finished call to the log writer; usage, cost, metrics and the record are worked out there.
        `reason`: why it failed; `client`: what the client got, when this call decides it; `fault`: the failure
        is the provider's (its circuit counts it; None: judged by the status); `hold`: returned, written later."""
        if c.circuit is not None and not cached:  # a cache hit says nothing of the provider
            self.circuits.record(c.circuit, success, status, fault)
        decisions = None
        if c.trail is not None:
            if client is None and (success or not c.has_fallback):
                client = _client_view(status, success, stream, bool(c.prior_text))
            c.trail.add(c.step if c.step is not None else c.step_name, c.provider.slug, c.model_name,
                        "answered" if success else "failed", reason, log_id)
            c.trail.client = client or c.trail.client
            decisions = c.trail.snapshot()
        finished = Finished(c, log_id, time.time(), time.monotonic() - started, status, success, cached,
                            response_body, response_type, response_head, stream, self.metrics, decisions=decisions)
        if not hold:
            self._write(c, finished)
        return finished

    def _write(self, c: Call, finished: Finished) -> None:
        if self.controls is not None:
            c.settling = self.controls.completed(c, finished)
        self.logs.write(finished)


def _head_deadline(o: RequestOptions) -> RequestOptions:
    """The options an attempt is sent with: a first-token deadline shorter than the request timeout bounds the
    wait for the answer's headers too (no first token comes before them; a whole answer's comes with them)."""
    if o.first_token_ms is None or (o.timeout_ms is not None and o.timeout_ms <= o.first_token_ms):
        return o
    return replace(o, timeout_ms=o.first_token_ms)


def _client_view(status: int, success: bool, stream: bool, continued: bool) -> str:
    if success:
        return "the rest of a continued answer" if continued else ("a complete answer" if stream else
                                                                    f"the provider's {status} answer")
    return "an error event: the answer broke off and could not be continued" if continued else f"a {status} error"


def _error_reason(status: int, body: bytes, final: bool) -> str:
    """A failed answer in a few words: its status and the provider's own message, when it gives one."""
    parsed = loads(body)
    error = parsed.get("error") if isinstance(parsed, dict) else None
    message = error.get("message") if isinstance(error, dict) else (error if isinstance(error, str) else None)
    text = f"the provider answered {status}" + (f": {str(message)[:200]}" if message else "")
    return text + (" (a content-policy refusal: no fallback is asked)" if final else "")


async def _settled(c: Call) -> None:
    if c.settling is not None:
        await c.settling


def _cacheable_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if not k.lower().startswith("cf-aig-") and k.lower() != "set-cookie"}


def _error_event(message: str, code: int = UPSTREAM_UNREACHABLE, kind: str = "upstream_error") -> bytes:
    payload = {"error": {"message": message, "type": kind, "code": code}}
    return b"event: error\ndata: " + json.dumps(payload).encode() + b"\n\n"


def _gateway_error(error: KumoError, headers: dict[str, str]) -> Response:
    return gateway_error_response(error, headers)
