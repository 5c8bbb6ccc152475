"""The model calls of an instance with an `ai_gateway_id`: query rewriting and answer generation go through
that AI Gateway (kumo's own gateway pipeline, in process, as its `workers-ai` provider), so they appear in
the gateway's logs and analytics and are subject to its cache, rate limits, spend limits, DLP and guardrails.

As on Cloudflare ("Workers AI embedding and reranking usage is included in AI Search usage. These calls do
not appear in your AI Gateway logs"), embeddings and reranking stay AI Search's own calls: indexing never
depends on the gateway's limits, and cached embeddings can never end up in the vector index.

The caller's credentials go along (`authorization`, also as `cf-aig-authorization` for an authenticated
gateway), exactly as if the caller had called the gateway itself; the answers are read back into the shapes
the Workers AI service returns, so the rest of AI Search cannot tell the difference."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from kumo.ai.runtimes.base import RunOutput
from kumo.ai.service import RunResult
from kumo.api.sse import closed_after
from kumo.errors import KumoError
from kumo.gateway.options import parse_options
from kumo.gateway.pipeline import Call, Pipeline
from kumo.gateway.providers import PROVIDERS


def _message(body: bytes, status: int) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")[:500] or f"HTTP {status}"
    for key in ("errors", "error"):
        found = data.get(key) if isinstance(data, dict) else None
        if isinstance(found, list) and found and isinstance(found[0], dict):
            return str(found[0].get("message") or found[0])
        if isinstance(found, dict):
            return str(found.get("message") or found)
    return f"HTTP {status}"


class GatewayModels:
    """`run` and `stream` with the Workers AI service's signatures, through one gateway."""

    def __init__(self, pipeline: Pipeline, account: str, gateway_id: str, credentials: Mapping[str, str]):
        self.pipeline = pipeline
        self.account = account
        self.gateway_id = gateway_id
        auth = credentials.get("authorization")
        self.headers = {"content-type": "application/json"}
        if auth:
            self.headers.update({"authorization": auth, "cf-aig-authorization": auth})

    async def _send(self, model: str, inputs: dict[str, Any]):
        """What the gateway answers a caller's `POST /{account}/{gateway}/workers-ai/{model}` (its pipeline's
        Response: a body, or a stream)."""
        headers = dict(self.headers)
        try:
            gateway = await self.pipeline.admit(self.account, self.gateway_id, headers)  # auth, rate limit
        except KumoError as exc:
            raise KumoError(f"AI Gateway {self.gateway_id!r} refused the call to {model}: {exc.message}",
                            status=exc.status) from None
        call = Call(self.account, self.gateway_id, gateway, PROVIDERS["workers-ai"], model, "", "POST", headers,
                    json.dumps(inputs).encode(), parse_options(headers, gateway))
        return (await self.pipeline.call(call)).response

    def _failed(self, status: int, body: bytes, model: str) -> KumoError:
        return KumoError(f"AI Gateway {self.gateway_id!r} refused the call to {model}: {_message(body, status)}",
                         status=status if 400 <= status < 600 else 502)

    async def run(self, model: str, inputs: dict[str, Any]) -> RunResult:
        response = await self._send(model, inputs)
        body = getattr(response, "body", None)
        if body is None:  # an answer that streams although no stream was asked for
            body = b"".join([c if isinstance(c, bytes) else c.encode() async for c in response.body_iterator])
        if not 200 <= response.status_code < 300:
            raise self._failed(response.status_code, body, model)
        data = json.loads(body)
        result = data.get("result", data) if isinstance(data, dict) else data
        return RunResult(RunOutput(result), response.headers.get("x-kumo-model", model))

    async def stream(self, model: str, inputs: dict[str, Any]) -> tuple[str, AsyncIterator[dict[str, Any]]]:
        response = await self._send(model, {**inputs, "stream": True})
        if not hasattr(response, "body_iterator"):
            raise self._failed(response.status_code, response.body, model)
        if not 200 <= response.status_code < 300:
            body = b"".join([c if isinstance(c, bytes) else c.encode() async for c in response.body_iterator])
            raise self._failed(response.status_code, body, model)
        return response.headers.get("x-kumo-model", model), _events(response.body_iterator, model, self.gateway_id)


async def _events(chunks: AsyncIterator[bytes | str], model: str, gateway_id: str) -> AsyncIterator[dict[str, Any]]:
    """Workers AI's SSE events as dicts; an `event: error` (a DLP block, a broken upstream) raises."""
    buffer = b""
    async with closed_after(chunks):  # closing the events closes the gateway's stream, which stops the model
        async for chunk in chunks:
            buffer += chunk if isinstance(chunk, bytes) else chunk.encode()
            while b"\n\n" in buffer:
                block, buffer = buffer.split(b"\n\n", 1)
                kind, data = "message", []
                for line in block.decode("utf-8", "replace").splitlines():
                    if line.startswith("event:"):
                        kind = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                payload = "\n".join(data)
                if not payload or payload == "[DONE]":
                    continue
                if kind == "error":
                    raise KumoError(f"AI Gateway {gateway_id!r} ended the answer from {model}: "
                                    f"{_message(payload.encode(), 502)}", status=502)
                yield json.loads(payload)
