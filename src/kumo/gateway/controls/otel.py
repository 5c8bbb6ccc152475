"""OpenTelemetry export: each call through a gateway with `otel` set becomes an OTLP span with the GenAI semantic
conventions (provider, model, tokens, operation) plus the gateway's own facts (cost, cache status, log id).
Spans are built on the log writer's thread from the settled call and sent by the official SDK's batch processor
(OTLP/HTTP, protobuf) from its own thread: nothing of it runs on the request path."""

from __future__ import annotations

import json
import logging
import threading
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from kumo.gateway.controls.memo import Memo

if TYPE_CHECKING:
    from kumo.gateway.finished import Finished
    from kumo.gateway.providers.base import Usage

log = logging.getLogger("kumo.gateway.otel")
BATCH_DELAY_MS = 1000
MAX_TARGETS = 64  # exporters alive at once (each has its batch thread)


class OtelTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: StrictStr = Field(max_length=2048)
    headers: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    authorization: StrictStr | None = None
    content_type: Literal["json", "protobuf"] = "protobuf"

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// OTLP traces endpoint (e.g. http://collector:4318/v1/traces)")
        return value


def validate(value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > 5:
        raise ValueError("must be a list of up to 5 {url, headers, authorization, content_type}")
    targets = [OtelTarget.model_validate(v) for v in value]
    for t in targets:
        if t.content_type == "json":
            raise ValueError("content_type `json`: kumo exports with the official OTLP/HTTP exporter, which sends "
                             "protobuf; set content_type to `protobuf` (every OTLP/HTTP collector accepts it)")
    return [t.model_dump(exclude_none=True) for t in targets]


def _operation(path: str) -> str:
    if path.endswith(("chat/completions", "messages")) or ":generatecontent" in path.lower() or "streamgeneratecontent" in path.lower():
        return "chat"
    if path.endswith("embeddings"):
        return "embeddings"
    if path.endswith("completions"):
        return "text_completion"
    return path.rsplit("/", 1)[-1] or "request"


class OtelExport:
    """One tracer provider (batch processor + exporter) per distinct target, made when first used."""

    def __init__(self):
        self._providers: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._by_target = Memo()  # the same target dict (a gateway's cached setting): no JSON key to build

    def _tracer(self, target: dict[str, Any]):
        return self._by_target.get(target, self._make_tracer)

    def _make_tracer(self, target: dict[str, Any]):
        key = json.dumps(target, sort_keys=True)
        with self._lock:
            provider = self._providers.get(key)
            if provider is None:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
                from opentelemetry.sdk.resources import Resource
                from opentelemetry.sdk.trace import TracerProvider
                from opentelemetry.sdk.trace.export import BatchSpanProcessor

                headers = dict(target.get("headers") or {})
                if target.get("authorization"):
                    headers["authorization"] = target["authorization"]
                provider = TracerProvider(resource=Resource.create({"service.name": "kumo-ai-gateway"}))
                provider.add_span_processor(BatchSpanProcessor(
                    OTLPSpanExporter(endpoint=target["url"], headers=headers, timeout=10),
                    schedule_delay_millis=BATCH_DELAY_MS))
                self._providers[key] = provider
                while len(self._providers) > MAX_TARGETS:  # settings edited many times: the oldest targets go
                    self._providers.pop(next(iter(self._providers))).shutdown()
                    self._by_target = Memo()  # it may hold the tracer of the one shut down
        return provider.get_tracer("kumo.gateway")

    def observer(self, targets: list[dict[str, Any]]):
        def observe(finished: Finished, usage: Usage, model: str, cost: float | None) -> None:
            for target in targets:
                try:
                    self._span(self._tracer(target), finished, usage, model, cost)
                except Exception:  # telemetry never takes a log batch down with it
                    log.exception("could not export a span to %s", target.get("url"))
        return observe

    @staticmethod
    def _span(tracer, f: Finished, usage: Usage, model: str, cost: float | None) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        c = f.call
        operation = _operation(c.path)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation, "gen_ai.provider.name": c.provider.slug, "gen_ai.system": c.provider.slug,
            "http.response.status_code": f.status, "kumo.gateway.id": c.gateway_id, "kumo.gateway.account": c.account,
            "kumo.gateway.log_id": f.log_id, "kumo.gateway.cache_status": "HIT" if f.cached else "MISS",
            "kumo.gateway.stream": f.stream,
        }
        if model:
            attributes["gen_ai.request.model"] = model
        if usage.model:
            attributes["gen_ai.response.model"] = usage.model
        if usage.tokens_in or usage.tokens_out:
            attributes["gen_ai.usage.input_tokens"] = usage.tokens_in
            attributes["gen_ai.usage.output_tokens"] = usage.tokens_out
        if cost is not None:
            attributes["kumo.gateway.cost_usd"] = cost
        if c.options.event_id:
            attributes["kumo.gateway.event_id"] = c.options.event_id
        for key, value in c.options.metadata.items():
            attributes[f"kumo.gateway.metadata.{key}"] = value
        end = int(f.ended_at * 1e9)
        span = tracer.start_span(f"{operation} {model}".strip(), kind=SpanKind.CLIENT, attributes=attributes,
                                 start_time=end - int(f.duration * 1e9))
        if not f.success:
            span.set_attribute("error.type", str(f.status))
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=end)

    def close(self) -> None:
        with self._lock:
            providers, self._providers = list(self._providers.values()), {}
            self._by_target = Memo()
        for provider in providers:
            provider.shutdown()  # flushes what is batched
