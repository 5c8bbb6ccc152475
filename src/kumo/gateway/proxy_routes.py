"""The gateway's data plane: `/v1/{account}/{gateway}/{provider}/...`, the universal endpoint
`/v1/{account}/{gateway}` and `/v1/{account}/{gateway}/compat/chat/completions`. Errors are gateway-shaped.
These handlers take a GatewayRequest, not a framework request: front.py serves them straight from ASGI."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial, wraps
from typing import Any, ParamSpec

import orjson
from starlette.responses import Response

from kumo.api.body import JsonRefused, loads
from kumo.api.threads import blocking
from kumo.errors import KumoError
from kumo.gateway.compat import translate, translate_sse
from kumo.gateway.controls.spend import Budget
from kumo.gateway.continuation import Continuation
from kumo.gateway.decisions import Trail
from kumo.gateway.errors import (
    BAD_REQUEST,
    UNKNOWN_PROVIDER,
    UPSTREAM_UNREACHABLE,
    GatewayError,
    gateway_error_response,
)
from kumo.gateway.failover import attempt
from kumo.gateway.options import RequestOptions, apply_step_config, parse_options
from kumo.gateway.pipeline import Call, Outcome, Pipeline
from kumo.gateway.providers import PROVIDERS
from kumo.gateway.dynamic_routing import walk

P = ParamSpec("P")


@dataclass(slots=True)
class GatewayRequest:
    account: str
    gateway_id: str
    method: str
    query: str
    headers: dict[str, str]  # lower-cased
    body: bytes


def _gateway_errors(handler: Callable[P, Awaitable[Response]]) -> Callable[P, Awaitable[Response]]:
    """The handler, with a KumoError it raises answered in the gateway's error shape."""
    @wraps(handler)
    async def answered(*args: P.args, **kwargs: P.kwargs) -> Response:
        try:
            return await handler(*args, **kwargs)
        except KumoError as exc:
            return gateway_error_response(exc)
    return answered


async def _admitted(pipeline: Pipeline, r: GatewayRequest, body_is: str) -> tuple[dict[str, Any], Any]:
    """The gateway the caller may use (Pipeline.admit: auth, rate limit) and the request's JSON body; a gateway error
    saying what the body must be (`body_is`) when it is not JSON."""
    gateway = await pipeline.admit(r.account, r.gateway_id, r.headers)
    try:
        return gateway, loads(r.body)
    except JsonRefused as exc:
        raise GatewayError(400, BAD_REQUEST, f"the body must be {body_is}: {exc.reason}") from None


@_gateway_errors
async def universal(pipeline: Pipeline, r: GatewayRequest) -> Response:
    headers = r.headers
    gateway, steps = await _admitted(pipeline, r, "a JSON array of steps")
    steps = [steps] if isinstance(steps, dict) else steps
    if not isinstance(steps, list) or not steps or not all(isinstance(s, dict) for s in steps):
        raise GatewayError(400, BAD_REQUEST, "the body must be a non-empty JSON array of "
                                             "{provider, endpoint, headers, query} steps")
    trail = Trail()

    async def run(first: int, cont: Continuation | None) -> Outcome | None:
        """Steps from `first` on; `cont`: they continue a broken answer."""
        outcome = None
        for index in range(first, len(steps)):
            call = _step_call(r.account, r.gateway_id, gateway, headers, steps[index], index)
            tried = await attempt(pipeline, call, trail, has_fallback=index < len(steps) - 1, cont=cont,
                                  resume=partial(run, index + 1))
            if tried is not None and (tried.ok or tried.final):  # a content-policy refusal: not asked again
                return tried
            outcome = tried or outcome
        return outcome

    outcome = await run(0, None)
    assert outcome is not None  # the last step is always tried
    return outcome.response


def _step_call(account: str, gateway_id: str, gateway: dict[str, Any], headers: dict[str, str],
               step: dict[str, Any], index: int) -> Call:
    slug = step.get("provider")
    provider = PROVIDERS.get(slug) if isinstance(slug, str) else None
    if provider is None:
        raise GatewayError(400, UNKNOWN_PROVIDER, f"step {index}: unknown provider {step.get('provider')!r}")
    endpoint = step.get("endpoint")
    if not isinstance(endpoint, str):
        raise GatewayError(400, BAD_REQUEST, f"step {index}: `endpoint` must be the provider path, e.g. chat/completions")
    step_headers = step.get("headers") or {}
    if not isinstance(step_headers, dict):
        raise GatewayError(400, BAD_REQUEST, f"step {index}: `headers` must be an object")
    merged = {**headers, **{k.lower(): str(v) for k, v in step_headers.items()}}
    if step.get("authorization") and "authorization" not in merged:  # the older form of the step
        merged["authorization"] = str(step["authorization"])
    merged.setdefault("content-type", "application/json")
    options = apply_step_config(parse_options(merged, gateway), step.get("config") or {})
    path, _, query = endpoint.lstrip("/").partition("?")
    body = json.dumps(step.get("query", {})).encode()
    return Call(account, gateway_id, gateway, provider, path, query, "POST", merged, body, options, step=index,
                wait_for_first_byte=True)


@_gateway_errors
async def compat_chat(pipeline: Pipeline, r: GatewayRequest) -> Response:
    headers = r.headers
    gateway, body = await _admitted(pipeline, r, "valid JSON")
    if not isinstance(body, dict):
        raise GatewayError(400, BAD_REQUEST, "the body must be an OpenAI chat completion request")
    options = parse_options(headers, gateway)
    model = body.get("model")
    if isinstance(model, str) and model.startswith("dynamic/"):
        return await _dynamic(pipeline, r.account, r.gateway_id, gateway, headers, body, options)
    call = _compat_call(r.account, r.gateway_id, gateway, headers, body, options)
    outcome = await attempt(pipeline, call, Trail(), has_fallback=False, resume=None)
    assert outcome is not None  # a last step is always tried
    return outcome.response


def _compat_call(account: str, gateway_id: str, gateway: dict[str, Any], headers: dict[str, str],
                 body: dict[str, Any], options: RequestOptions) -> Call:
    t = translate(body, headers)
    path, _, query = t.path.partition("?")
    call = Call(account, gateway_id, gateway, t.provider, path, query, "POST", headers, orjson.dumps(t.body),
                options, log_path="compat/chat/completions", extra_headers=t.headers, response_json=t.response,
                wait_for_first_byte=True, client_format="openai")
    if t.stream and t.stream_events is not None:
        events = t.stream_events
        call.response_stream = lambda chunks: translate_sse(chunks, events)
    return call


async def _dynamic(pipeline: Pipeline, account: str, gateway_id: str, gateway: dict[str, Any],
                   headers: dict[str, str], body: dict[str, Any], options: RequestOptions) -> Response:
    name = body["model"].split("/", 1)[1]
    route = await blocking(pipeline.service.get_route, account, gateway_id, name, "name")
    if route is None:
        raise GatewayError(400, BAD_REQUEST, f"no dynamic route named {name!r} in gateway {gateway_id!r}")

    trail = Trail()

    def model_caller(cont: Continuation | None):
        async def call_model(element: str, props: dict[str, Any], fallback: str | None) -> Outcome | None:
            step_options = RequestOptions(**options.__dict__)
            if props.get("timeout"):
                step_options.timeout_ms = int(props["timeout"])
            if props.get("retries") is not None:
                step_options.max_attempts = max(1, min(5, int(props["retries"]) + 1))
            model = f"{props['provider']}/{props['model']}"
            call = _compat_call(account, gateway_id, gateway, headers, {**body, "model": model}, step_options)
            call.step_name = element
            call.budgets = list(cost_budgets)  # the route's cost limits passed on the way: charged to them
            outcome = await attempt(
                pipeline, call, trail, has_fallback=fallback is not None, cont=cont,
                resume=lambda c: walk(route, context, model_caller(c), hit_limit, pipeline.rng, start=fallback))
            if outcome is not None:
                outcome.response.headers["cf-aig-model"] = props["model"]
                outcome.response.headers["cf-aig-provider"] = props["provider"]
            return outcome
        return call_model

    cost_budgets: list = []

    async def hit_limit(key: str, limit: float, interval: int, technique: str, kind: str) -> bool:
        if kind == "cost":
            if pipeline.controls is None:
                raise GatewayError(400, BAD_REQUEST, "cost limits need the gateway's spend counters")
            budget = Budget(f"route:{account}/{gateway_id}/{key}", interval, technique, float(limit), key)
            if (await pipeline.controls.spend_counter.spent([budget]))[0] >= budget.limit:
                return False
            cost_budgets.append(budget)
            return True
        return (await pipeline.limiter.hit(f"route:{account}/{gateway_id}/{key}", int(limit), interval, technique))[0]

    context = {"metadata": options.metadata, "body": body}
    outcome = await walk(route, context, model_caller(None), hit_limit, pipeline.rng)
    if outcome is None:  # every model element passed over: only a route whose models all have fallbacks
        raise GatewayError(503, UPSTREAM_UNREACHABLE, f"dynamic route {name!r}: every model's circuit is open "
                                                       f"({trail.last_reason})")
    return outcome.response


@_gateway_errors
async def provider_passthrough(pipeline: Pipeline, r: GatewayRequest, provider: str, path: str) -> Response:
    spec = PROVIDERS.get(provider)
    if spec is None:
        raise GatewayError(400, UNKNOWN_PROVIDER,
                           f"unknown provider {provider!r}; kumo knows {', '.join(sorted(PROVIDERS))}")
    gateway = await pipeline.admit(r.account, r.gateway_id, r.headers)
    call = Call(r.account, r.gateway_id, gateway, spec, path, r.query, r.method, r.headers, r.body,
                parse_options(r.headers, gateway))
    return (await pipeline.call(call)).response
