"""Prometheus metrics for one kumo (a registry per Platform, no global state), served at `GET /metrics`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_CHILDREN = 4096  # labelled children Metrics keeps at hand
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


_ACCOUNT = "/client/v4/accounts/"
# the path segment after /client/v4/accounts/{account_id}/ -> the product label of metrics and access lines
_ACCOUNT_PRODUCTS = {"vectorize": "vectorize", "ai-gateway": "gateway-admin", "ai-search": "ai-search",
                     "ai": "workers-ai", "r2": "r2", "workers": "workers"}


def product_of(path: str) -> str:
    """`gateway` (the data plane), `r2` (S3 and the REST API), `vectorize`, `workers-ai`, `custom-models`,
    `ai-search`, `gateway-admin`, `workers`, `dashboard`, else `other` (operator pages, unknown paths)."""
    if path.startswith("/v1/"):
        return "gateway"
    if path.startswith("/r2/"):
        return "r2"
    if path.startswith("/dashboard"):
        return "dashboard"
    if path.startswith(_ACCOUNT):
        parts = path[len(_ACCOUNT):].split("/", 3)
        if len(parts) > 1:
            if parts[1] == "ai" and len(parts) > 2 and parts[2] == "custom-models":
                return "custom-models"
            return _ACCOUNT_PRODUCTS.get(parts[1], "other")
    return "other"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("kumo_http_requests_total", "HTTP requests", ["product", "route", "method", "status"],
                                registry=r)
        self.latency = Histogram("kumo_http_request_duration_seconds", "HTTP request latency (to the last byte)",
                                 ["product", "route"], buckets=LATENCY_BUCKETS, registry=r)
        self.gateway_tokens = Counter("kumo_gateway_tokens_total", "Tokens through the gateway",
                                      ["provider", "direction"], registry=r)
        self.gateway_cost = Counter("kumo_gateway_cost_usd_total", "Cost of gateway requests (USD)", ["provider"],
                                    registry=r)
        self.gateway_cache = Counter("kumo_gateway_cache_total", "Gateway cache lookups", ["result"], registry=r)
        self.gateway_rate_limited = Counter("kumo_gateway_rate_limited_total", "Requests refused by rate limits",
                                            registry=r)
        self.gateway_upstream_errors = Counter("kumo_gateway_upstream_errors_total", "Failed provider answers",
                                               ["provider", "status"], registry=r)
        self.inference = Histogram("kumo_ai_inference_seconds", "Workers AI inference time", ["model"],
                                   buckets=LATENCY_BUCKETS, registry=r)
        self.ai_batch_items = Histogram("kumo_ai_batch_items",
                                        "Items (texts, pairs) per Workers AI forward pass (micro-batching)", ["model"],
                                        buckets=(1, 2, 4, 8, 16, 32, 64), registry=r)
        self.model_load = Gauge("kumo_ai_model_load_seconds", "Time it took to load a model", ["model"], registry=r)
        self.custom_calls = Counter("kumo_custom_model_calls_total", "Custom model calls by version and outcome",
                                    ["account", "model", "version", "outcome"], registry=r)
        self.custom_latency = Histogram("kumo_custom_model_inference_seconds", "Custom model prediction time",
                                        ["account", "model", "version"], buckets=LATENCY_BUCKETS, registry=r)
        self.custom_predictions = Counter("kumo_custom_model_predictions_total",
                                          "Rows predicted by custom classifiers, by predicted class",
                                          ["account", "model", "version", "prediction"], registry=r)
        self.custom_batch_rows = Histogram("kumo_custom_model_batch_rows",
                                           "One-row custom model calls answered by one predict (micro-batching)",
                                           buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=r)
        self._gauges: list[tuple[str, str, Callable[[], float]]] = []
        r.register(_Callbacks(self._gauges))
        self._children: dict[tuple, Any] = {}

    def child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, kept: labels() validates and takes a lock on every call, and the hot paths
        (every request, every gateway log) count under the same few label sets."""
        key = (id(metric), *labels)
        found = self._children.get(key)
        if found is None:
            if len(self._children) > MAX_CHILDREN:  # label values a client chose (a method): bounded
                self._children.clear()
            found = self._children[key] = metric.labels(*labels)
        return found

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        """A value read at scrape time (queue depth, vector counts)."""
        self._gauges.append((name, help_text, read))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _Callbacks:
    def __init__(self, gauges):
        self.gauges = gauges

    def collect(self):
        for name, help_text, read in self.gauges:
            family = GaugeMetricFamily(name, help_text)
            try:
                family.add_metric([], float(read()))
            except Exception:  # a gauge that cannot be read is left out of this scrape
                continue
            yield family


class MetricsMiddleware:
    """Counts and times every HTTP request by route template (not raw path, so cardinality stays bounded)."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def tracking_send(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            product, m = product_of(scope.get("path", "")), self.metrics
            m.child(m.requests, product, template, scope["method"], str(status[0])).inc()
            m.child(m.latency, product, template).observe(time.perf_counter() - started)
