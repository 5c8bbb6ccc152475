"""The circuit breaker and the stream guard on their own: a clock that moves by hand, chunks that arrive as a
provider's would (events split across chunks, a break mid-event)."""

from __future__ import annotations

import asyncio
import json

import pytest

from kumo.gateway.breaker import CircuitBreaker, StepCircuits, StepKey, credential_digest
from kumo.gateway.dialects import DIALECTS
from kumo.gateway.stream_guard import StreamBroken, StreamGuard
from kumo.gateway.upstream_http import UpstreamBroken


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_circuit_opens_after_failures_in_a_row_and_heals_through_one_probe():
    clock = Clock()
    breaker = CircuitBreaker(failures=3, cooldown=10, clock=clock)
    key = ("acct", "gw", "openai", "gpt-4o")
    for _ in range(2):
        breaker.record(key, False)
    breaker.record(key, True)  # a success in between: the count starts over
    for _ in range(3):
        assert breaker.allows(key)
        breaker.record(key, False)
    assert breaker.state(key) == "open" and not breaker.allows(key)
    assert breaker.allows(("acct", "gw", "openai", "gpt-4o-mini"))  # per model
    clock.now += 10
    assert breaker.state(key) == "half-open"
    assert breaker.allows(key) and not breaker.allows(key)  # one probe at a time
    breaker.record(key, False)  # the probe failed: open for another cooldown
    assert not breaker.allows(key)
    clock.now += 10
    assert breaker.allows(key)
    breaker.record(key, True)
    assert breaker.state(key) == "closed" and breaker.allows(key) and breaker.allows(key)


def test_a_probe_that_never_reports_frees_the_circuit_after_a_cooldown():
    clock = Clock()
    breaker = CircuitBreaker(failures=1, cooldown=5, clock=clock)
    breaker.record("k", False)
    clock.now += 5
    assert breaker.allows("k") and not breaker.allows("k")
    clock.now += 5
    assert breaker.allows("k")


def test_zero_failures_turns_it_off():
    breaker = CircuitBreaker(failures=0)
    for _ in range(10):
        breaker.record("k", False)
    assert breaker.allows("k")


def test_a_refused_credential_opens_its_own_circuit_and_5xx_opens_the_providers():
    clock = Clock()
    circuits = StepCircuits(failures=2, cooldown=10, clock=clock)
    bad = StepKey("acct", "gw", "openai", "gpt-4o", credential_digest(["Bearer bad", "", ""]))
    good = StepKey("acct", "gw", "openai", "gpt-4o", credential_digest(["Bearer good", "", ""]))
    assert bad.credential != good.credential and "bad" not in bad.credential  # a digest, never the key
    for status in (401, 429):
        assert circuits.open_one(bad) is None
        circuits.record(bad, False, status, None)
    assert circuits.open_one(bad) == "credential"
    assert circuits.open_one(good) is None  # another caller's key: not stopped
    circuits.record(good, False, 400, None)  # a bad request says nothing of the provider or the key
    for _ in range(2):
        circuits.record(good, False, 503, None)
    assert circuits.open_one(good) == "provider" and circuits.open_one(bad) == "provider"  # everybody's
    clock.now += 10
    assert circuits.open_one(good) is None and circuits.open_one(good) == "provider"  # one probe at a time
    circuits.record(good, True, 200, None)
    assert circuits.open_one(good) is None
    assert circuits.open_one(bad) is None  # its circuit is half-open too: one probe
    circuits.record(bad, False, 403, None)  # the probe refused again: open for another cooldown
    assert circuits.open_one(bad) == "credential" and circuits.open_one(good) is None


def test_a_half_open_provider_probe_is_not_spent_on_an_open_credential_circuit():
    clock = Clock()
    circuits = StepCircuits(failures=1, cooldown=10, clock=clock)
    bad = StepKey("a", "g", "groq", "m", credential_digest(["bad"]))
    good = StepKey("a", "g", "groq", "m", credential_digest(["good"]))
    circuits.record(bad, False, 401, None)
    clock.now += 5
    circuits.record(bad, False, 502, True)  # a broken answer: the provider's fault whatever the status
    clock.now += 10  # the provider's circuit is half-open; the bad key, refused again, opens its own again
    circuits.record(bad, False, 401, None)
    assert circuits.open_one(bad) == "credential"
    assert circuits.open_one(good) is None  # the probe is still there for a caller that can use it


def test_a_probe_refused_for_its_key_frees_the_provider_for_the_next_caller():
    clock = Clock()
    circuits = StepCircuits(failures=2, cooldown=10, clock=clock)
    bad = StepKey("a", "g", "openai", "m", credential_digest(["bad"]))
    good = StepKey("a", "g", "openai", "m", credential_digest(["good"]))
    for _ in range(2):
        circuits.record(good, False, 503, None)
    clock.now += 11  # half-open: the bad key takes the probe and is refused
    assert circuits.open_one(bad) is None
    circuits.record(bad, False, 401, None)
    assert circuits.open_one(good) is None  # the provider answered: the probe is not held for a cooldown
    circuits.record(good, False, 503, None)  # the probe of a provider still down opens it again
    assert circuits.open_one(good) == "provider"
    clock.now += 11
    assert circuits.open_one(good) is None
    circuits.record(good, False, 400, None)  # an outcome that says nothing of either gives the probes back
    assert circuits.open_one(bad) is None


def test_a_sigv4_credential_is_named_by_its_access_key_not_its_signature():
    from kumo.gateway.providers.aws_bedrock import PROVIDER

    def parts(key_id: str, signature: str, date: str) -> list[str]:
        headers = {"authorization": f"AWS4-HMAC-SHA256 Credential={key_id}/20261204/us-east-1/bedrock/aws4_request, "
                                    f"SignedHeaders=host;x-amz-date, Signature={signature}",
                   "x-amz-date": date, "x-amz-content-sha256": signature[::-1]}
        return [PROVIDER.credential_identity(name, headers.get(name, "")) for name in PROVIDER.credential_headers]
    first, again = parts("AKIA1", "ab" * 32, "20261204T100000Z"), parts("AKIA1", "cd" * 32, "20261204T100001Z")
    assert credential_digest(first) == credential_digest(again)
    assert credential_digest(first) != credential_digest(parts("AKIA2", "ab" * 32, "20261204T100000Z"))


def test_credential_digests_keep_their_parts_apart():
    assert credential_digest(["ab", "c"]) != credential_digest(["a", "bc"])
    assert credential_digest(["k", ""]) != credential_digest(["", "k"])


def _event(delta: dict, finish=None) -> bytes:
    return b"data: " + json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}).encode() + b"\n\n"


async def _chunks(parts, then=None):
    for part in parts:
        yield part
        await asyncio.sleep(0)
    if then == "break":
        raise UpstreamBroken("ClientPayloadError")
    if then == "stall":
        await asyncio.sleep(3600)


async def _drain(guard):
    out = []
    try:
        async for events in guard.events():
            out.append(events)
    except StreamBroken as exc:
        return b"".join(out), exc
    return b"".join(out), None


def test_only_whole_events_reach_the_client_and_the_text_is_what_it_got():
    stream = _event({"role": "assistant", "content": ""}) + _event({"content": "Hel"}) + _event({"content": "lo"})
    cut = len(stream) - 7  # the last event arrives half
    guard = StreamGuard(_chunks([stream[:10], stream[10:cut]], "break"), DIALECTS["openai"], 5, strict=True)
    sent, broken = asyncio.run(_drain(guard))
    assert sent == stream[:stream.rindex(b"data:")] and "broke off" in broken.reason
    assert guard.text == "Hel" and guard.resumable and not guard.finished


def test_the_first_token_deadline_is_not_met_by_a_role_chunk_or_comments():
    async def run():
        guard = StreamGuard(_chunks([_event({"role": "assistant"}), b": ping\n\n"], "stall"), DIALECTS["openai"], 5)
        with pytest.raises(StreamBroken) as broken:
            await guard.head(0.2)
        return broken.value
    broken = asyncio.run(run())
    assert broken.status == 504 and "first-token deadline" in broken.reason


def test_a_malformed_or_error_event_is_a_break_only_where_a_next_step_waits():
    parts = [_event({"content": "a"}), b"data: {not json\n\n", _event({"content": "b"}), _event({}, "stop")]
    sent, broken = asyncio.run(_drain(StreamGuard(_chunks(parts), DIALECTS["openai"], 5, strict=True)))
    assert b"not json" not in sent and "malformed" in broken.reason
    sent, broken = asyncio.run(_drain(StreamGuard(_chunks(parts), DIALECTS["openai"], 5)))
    assert broken is None and sent == b"".join(parts)  # passed on as the provider sent it
    anthropic = [b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", '
                 b'"message": "Overloaded"}}\n\n']
    _, broken = asyncio.run(_drain(StreamGuard(_chunks(anthropic), DIALECTS["anthropic"], 5, strict=True)))
    assert "Overloaded" in broken.reason


def test_a_tool_call_cannot_be_continued_and_a_stall_is_a_504():
    parts = [_event({"tool_calls": [{"index": 0, "function": {"arguments": "{"}}]})]
    guard = StreamGuard(_chunks(parts, "stall"), DIALECTS["openai"], 0.1, strict=True)
    _, broken = asyncio.run(_drain(guard))
    assert not guard.resumable and broken.status == 504 and "stalled" in broken.reason
