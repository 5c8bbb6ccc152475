"""One step of a request that has several (the universal endpoint's list, a dynamic route's model elements): skipped
while its circuit is open and another step can answer, turned into a continuation when an earlier step's stream
broke mid-answer, and given what it needs to pass a broken stream of its own on to the steps after it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from kumo.gateway.breaker import StepKey, credential_digest
from kumo.gateway.continuation import Continuation, prepare
from kumo.gateway.controls.byok import ALIAS_HEADER
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
    call.circuit = StepKey(call.account, call.gateway_id, call.provider.slug, call.model_name or "",
                           credential_digest(_credential_parts(call)))
    label = call.step if call.step is not None else call.step_name
    if cont is not None:
        why = prepare(call, cont)
        if why is not None:
            trail.add(label, call.provider.slug, call.model_name, "not continued", why)
            return None
    # the last step is tried whatever its circuit says: an answer that may fail beats one that surely does
    open_one = pipeline.circuits.open_one(call.circuit) if has_fallback else None
    if open_one is not None:
        why = ("failures" if open_one == "provider" else
               "refusals (401, 403, 429) of the credential it was sent with")
        trail.add(label, call.provider.slug, call.model_name, "skipped",
                  f"its {open_one} circuit is open after {pipeline.circuits.threshold} {why} in a row")
        return None
    call.resume = resume if has_fallback else None
    return await pipeline.call(call)


def _credential_parts(call: Call) -> list[str]:
    """What picks the credential the call goes upstream with: the caller's own key (the provider's credential
    headers and query parameters), its gateway token and the stored key's alias (BYOK puts the key in later)."""
    headers = {**call.headers, **call.extra_headers}  # as they go upstream
    identity = call.provider.credential_identity
    parts = [identity(name, headers.get(name, "")) for name in call.provider.credential_headers]
    if call.provider.credential_query:
        query = dict(parse_qsl(call.query, keep_blank_values=True))
        parts += [query.get(name, "") for name in call.provider.credential_query]
    return parts + [headers.get("cf-aig-authorization", ""), headers.get(ALIAS_HEADER, "")]
