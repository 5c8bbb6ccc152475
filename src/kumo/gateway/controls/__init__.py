"""The gateway's controls on one call, behind the pipeline's hooks, in the order a call meets them:

    on_request   before the cache: DLP and guardrails on the prompt (may refuse: 2029 / 2016)
    before_send  after a cache miss, before the provider: stored keys (BYOK), spend limits (may refuse: 401, 2040,
                 2041)
    on_response  a whole answer: guardrails and DLP (may replace it with 2017 / 2030; a DLP flag is a header)
    on_stream    a streamed answer: the same, as it passes (a block ends it with an error event)
    completed    the call's Finished: spend charged, an OTel span attached for the log thread

Each control is its own module (spend, byok, dlp + detectors, guardrails, otel); this class only runs them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING

from kumo.api.threads import blocking
from kumo.errors import KumoError
from kumo.gateway.controls import byok, dlp, guardrails, otel, spend
from kumo.gateway.errors import RATE_LIMITED, GatewayError
from kumo.gateway.finished import Finished, loads

if TYPE_CHECKING:
    from kumo.gateway.pipeline import Call

GUARD_UNAVAILABLE = 2018  # kumo's: the guardrails model could not judge (503)


class Controls:
    def __init__(self, *, spend_counter: spend.SpendCounter, provider_keys: byok.ProviderKeys | None = None,
                 limiter=None, grants=(), ai=None, telemetry: otel.OtelExport | None = None):
        self.spend_counter = spend_counter
        self.provider_keys = provider_keys
        self.limiter = limiter  # the gateway's rate limiter: a stored key's own rate limit
        self.grants = grants
        self.ai = ai  # kumo's inference service: runs the guardrails model
        self.telemetry = telemetry

    async def on_request(self, c: Call) -> None:
        """Before the cache: DLP on the prompt (a block is a 2029; a flag is a header on the answer)."""
        scanner = dlp.scanners(c.gateway.get("dlp"))["REQUEST"]
        if scanner is not None:
            findings, action = scanner.scan(dlp.text_of(c.body))
            if findings and action is not None:  # findings come with an action
                dlp.record(c.account, c.gateway_id, "-", findings, action)
                if action == "BLOCK":
                    raise dlp.Blocked("REQUEST", findings)
                c.control_headers[dlp.HEADER] = dlp.header(findings, action)
        wanted = guardrails.actions(c.gateway.get("guardrails"), "prompt")
        if wanted:
            error = guardrails.decide(await self._judge(guardrails.conversation(dlp.text_of(c.body))), wanted,
                                      "prompt", f"{c.account}/{c.gateway_id}")
            if error is not None:
                raise error

    async def _judge(self, messages: list[dict[str, str]]) -> list[str]:
        if self.ai is None:
            raise GatewayError(503, GUARD_UNAVAILABLE, guardrails.missing_model_error("no inference service"))
        try:
            result = await self.ai.run(guardrails.MODEL, {"messages": messages, "max_tokens": 24, "temperature": 0})
            return guardrails.verdict(str(result.output.result.get("response", "")))
        except (KumoError, ValueError, AttributeError) as exc:
            # a control that cannot judge refuses: letting the call through would be a guardrail that is not there
            message = exc.message if isinstance(exc, KumoError) else str(exc)
            raise GatewayError(503, GUARD_UNAVAILABLE, f"guardrails could not judge: {message}") from None

    async def on_response(self, c: Call, body: bytes, headers: dict[str, str]) -> GatewayError | None:
        """A whole answer: DLP and guardrails on it. The error to answer instead when it is blocked; a DLP flag goes
        in `headers`."""
        wanted = guardrails.actions(c.gateway.get("guardrails"), "response")
        if wanted:
            try:
                verdict = await self._judge(guardrails.conversation(dlp.text_of(c.body), dlp.text_of(body)))
            except GatewayError as unavailable:
                return unavailable
            blocked = guardrails.decide(verdict, wanted, "response", f"{c.account}/{c.gateway_id}")
            if blocked is not None:
                return blocked
        scanner = dlp.scanners(c.gateway.get("dlp"))["RESPONSE"]
        if scanner is None:
            return None
        findings, action = scanner.scan(dlp.text_of(body))
        if not findings or action is None:
            return None
        dlp.record(c.account, c.gateway_id, headers.get("cf-aig-log-id", "-"), findings, action)
        if action == "BLOCK":
            return dlp.Blocked("RESPONSE", findings)
        previous = headers.get(dlp.HEADER)
        if previous:  # the prompt was flagged too: one header with both findings
            findings = json.loads(previous)["findings"] + findings
        headers[dlp.HEADER] = dlp.header(findings, action)
        return None

    def on_stream(self, c: Call, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """A stream, checked as it passes (a block raises mid-stream: the pipeline ends it with an error event)."""
        wanted = guardrails.actions(c.gateway.get("guardrails"), "response")
        if wanted:
            chunks = self._judged_at_end(c, chunks, wanted)
        scanner = dlp.scanners(c.gateway.get("dlp"))["RESPONSE"]
        if scanner is None:
            return chunks

        def blocked(findings):
            dlp.record(c.account, c.gateway_id, "-", findings, "BLOCK")
            return dlp.Blocked("RESPONSE", findings)
        return dlp.scanned(chunks, dlp.StreamScan(scanner), blocked,
                           lambda findings: dlp.record(c.account, c.gateway_id, "-", findings, "FLAG"))

    async def _judged_at_end(self, c: Call, chunks: AsyncIterator[bytes], wanted: dict[str, str]):
        # one chunk is held back until the end is judged: the stream's closing event ([DONE], message_stop) must
        # not reach the caller before the verdict, or a block would come after a clean end
        text, held = dlp.StreamText(), None
        async for chunk in chunks:
            text.feed(chunk)
            if held is not None:
                yield held
            held = chunk
        verdict = await self._judge(guardrails.conversation(dlp.text_of(c.body), text.text))
        error = guardrails.decide(verdict, wanted, "response", f"{c.account}/{c.gateway_id}")
        if error is not None:
            raise error
        if held is not None:
            yield held

    async def before_send(self, c: Call) -> None:
        if self.provider_keys is not None and byok.wants_stored_key(c):
            await self._use_stored_key(c, self.provider_keys)
        limits = c.gateway.get("spend_limits")
        if limits:
            model = c.provider.model_of(c.path, loads(c.body))
            rules = spend.budgets(limits, c.account, c.gateway_id, c.provider.slug, model, c.options.metadata)
            await spend.check(self.spend_counter, rules)
            c.budgets = c.budgets + rules  # with a dynamic route's cost limits, if it came through one

    async def _use_stored_key(self, c: Call, provider_keys: byok.ProviderKeys) -> None:
        keys = provider_keys.fresh(c.account, c.gateway_id)
        if keys is None:
            keys = await blocking(provider_keys.keys, c.account, c.gateway_id)
        entry = byok.stored_key_for(keys, c)
        if entry is None:
            return
        if not byok.authenticated(self.grants, c):
            if not byok.must_use_stored_key(c):
                return  # an anonymous caller with a key of its own: theirs goes upstream, never the stored one
            raise byok.refuse_anonymous()
        if entry["rate_limit"] and self.limiter is not None:
            allowed, wait = await self.limiter.hit(f"byok:{entry['id']}", int(entry["rate_limit"]),
                                                   int(entry["period"]), "fixed")
            if not allowed:
                raise GatewayError(429, RATE_LIMITED, f"Rate limited: this stored key's limit; retry in {wait:.1f} s")
        byok.put_key(c, entry["key"])

    def completed(self, c: Call, finished: Finished) -> Awaitable[None] | None:
        """What is still to do for a finished call, as a task the pipeline awaits before the answer ends (so the
        caller's next request sees it), or None."""
        targets = c.gateway.get("otel")
        if targets and self.telemetry is not None:
            finished.observers = (*finished.observers, self.telemetry.observer(targets))
        if c.budgets and not finished.cached:
            cost = finished.priced()[2]
            if cost:
                return asyncio.ensure_future(self.spend_counter.add(c.budgets, cost))
        return None
