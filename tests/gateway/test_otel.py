"""OpenTelemetry export: calls through a gateway with `otel` set arrive at an OTLP/HTTP receiver (in this test) as
spans with the GenAI semantic conventions, batched off the request path."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.gateway.conftest import make_gateway


class OtlpReceiver:
    """POST /v1/traces (protobuf), as a collector receives it; keeps every span with its attributes."""

    def __init__(self):
        self.spans: list[dict] = []
        self.headers: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                request = ExportTraceServiceRequest.FromString(body)
                receiver.headers.append(dict(self.headers))
                for resource in request.resource_spans:
                    service = {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"]
                    for scope in resource.scope_spans:
                        for span in scope.spans:
                            attrs = {}
                            for a in span.attributes:
                                v = a.value
                                attrs[a.key] = getattr(v, v.WhichOneof("value"))
                            receiver.spans.append({"name": span.name, "kind": span.kind, "service": service,
                                                   "attributes": attrs, "status": span.status.code,
                                                   "duration_ns": span.end_time_unix_nano - span.start_time_unix_nano})
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout: float = 10) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.spans) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.spans


@pytest.fixture
def receiver():
    r = OtlpReceiver()
    yield r
    r.server.shutdown()


def test_each_call_is_a_genai_span(gw_server, admin, acct, receiver):
    make_gateway(admin, otel=[{"url": receiver.url, "headers": {"x-team": "ml"}, "authorization": "Bearer otlp-token",
                               "content_type": "protobuf"}])
    oa = openai.OpenAI(api_key="sk-caller", base_url=f"{gw_server.url}/v1/{acct}/gw/openai/v1", max_retries=0)
    oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                               extra_headers={"cf-aig-metadata": json.dumps({"user_id": "u1"})})
    stream = oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True,
                                        stream_options={"include_usage": True})
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    with pytest.raises(openai.BadRequestError):
        oa.chat.completions.create(model="gpt-4o-mini", messages=[], extra_headers={"x-fake": "400"})
    spans = receiver.wait(3)
    assert len(spans) == 3
    first, streamed, failed = spans
    assert first["name"] == "chat gpt-4o-mini" and first["kind"] == 3  # SPAN_KIND_CLIENT
    assert first["service"] == "kumo-ai-gateway"
    a = first["attributes"]
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o-mini" and a["gen_ai.usage.input_tokens"] > 0
    assert a["gen_ai.usage.output_tokens"] == 6 and a["kumo.gateway.cost_usd"] > 0
    assert a["kumo.gateway.cache_status"] == "MISS" and a["http.response.status_code"] == 200
    assert a["kumo.gateway.metadata.user_id"] == "u1" and first["duration_ns"] > 0
    assert streamed["attributes"]["kumo.gateway.stream"] is True
    assert streamed["attributes"]["gen_ai.usage.output_tokens"] == 6
    assert failed["status"] == 2 and failed["attributes"]["error.type"] == "400"  # STATUS_CODE_ERROR
    sent = receiver.headers[0]
    assert sent.get("x-team") == "ml" and sent.get("authorization") == "Bearer otlp-token"
    assert "otlp-token" not in gw_server.logged_text()


@pytest.mark.parametrize("otel, needle", [
    ([{"url": "ftp://x/v1/traces"}], "http"),
    ([{"url": "http://127.0.0.1:4318/v1/traces", "content_type": "json"}], "protobuf"),
    ([{"url": "http://127.0.0.1:4318/v1/traces", "surprise": 1}], "surprise"),
])
def test_otel_settings_are_validated(admin, otel, needle):
    r = admin.post("/gateways", json={"id": "bad", "cache_invalidate_on_update": False, "cache_ttl": None,
                                      "collect_logs": True, "rate_limiting_interval": None,
                                      "rate_limiting_limit": None, "otel": otel})
    assert r.status_code == 400 and "`otel`" in r.json()["errors"][0]["message"]
    assert needle in r.json()["errors"][0]["message"]
