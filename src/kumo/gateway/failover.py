"""One step of a request that has several (the universal endpoint's list, a dynamic route's model elements): skipped
while its circuit is open and another step can answer, turned into a continuation when an earlier step's stream
broke mid-answer, and given what it needs to pass a broken stream of its own on to the steps after it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from kumo.gateway.continuation import Continuation, prepare
from kumo.gateway.decisions import Trail
from kumo.gateway.finished import loads
from kumo.gateway.pipeline import Call, Outcome, Pipeline

MAX_MODEL_NAME = 256
# the steps after this one, asked to continue a broken answer: their outcome, or None when none could be asked
Resume = Callable[[Continuation], Awaitable[Outcome | None]]


async def attempt(pipeline: Pipeline, call: Call, trail: Trail, *, has_fallback: bool, resume: Resume | None,
                  cont: Continuation | None = None) -> Outcome | None:
    """The step's outcome, or None when it was passed over (its circuit is open, or it cannot continue `cont`):
    the trail says why."""
    call.trail, call.has_fallback = trail, has_fallback
    body = loads(call.body)
    model = call.provider.model_of(call.path, body)
    # bounded: a caller's model name is a key of the circuits' table
    call.model_name = model[:MAX_MODEL_NAME] if isinstance(model, str) else None
    call.breaker_key = (call.account, call.gateway_id, call.provider.slug, call.model_name or "")
    label = call.step if call.step is not None else call.step_name
    if cont is not None:
        why = prepare(call, cont)
        if why is not None:
            trail.add(label, call.provider.slug, call.model_name, "not continued", why)
            return None
    # the last step is tried whatever its circuit says: an answer that may fail beats one that surely does
    if has_fallback and not pipeline.breaker.allows(call.breaker_key):
        trail.add(label, call.provider.slug, call.model_name, "skipped",
                  f"its circuit is open after {pipeline.breaker.threshold} failures in a row")
        return None
    call.resume = resume if has_fallback else None
    return await pipeline.call(call)
