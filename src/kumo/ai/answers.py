"""What `POST /ai/run/{model}` answers, in one copy for both ways a request reaches it: the FastAPI route
(ai/routes.py) and the ASGI front (ai/front.py). Knows the request's body and headers, not how they arrived."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kumo.api.body import JsonRefused, loads
from kumo.custom_models import PREFIX as CUSTOM_PREFIX
from kumo.errors import InvalidRequest

if TYPE_CHECKING:
    from kumo.ai.service import AiService
    from kumo.custom_models.service import CustomModelService


@dataclass
class Answer:
    """The envelope's `result`; or raw `body` bytes of `content_type` (a PNG); or SSE `events` (a stream)."""

    headers: dict[str, str]
    result: Any = None
    body: bytes | None = None
    content_type: str = "application/json"
    events: AsyncGenerator[dict[str, Any], None] | None = field(default=None, repr=False)


def model_headers(model: str) -> dict[str, str]:
    """The model that answered, and an id for this inference (Cloudflare's `cf-ai-req-id`)."""
    return {"x-kumo-model": model, "cf-ai-req-id": str(uuid.uuid4())}


def looks_json(raw: bytes, content_type: str) -> bool:
    """Whether a body is the model input as JSON rather than the raw bytes of an audio or image input."""
    if "json" in content_type:
        return True
    return (raw.lstrip()[:1] in (b"{", b"[") and "octet-stream" not in content_type and "audio" not in content_type
            and "image" not in content_type)


def decode_input(raw: bytes, content_type: str) -> Any:
    """A JSON body, or the raw bytes of a binary input (audio, image) sent as the body."""
    if looks_json(raw, content_type):
        if not raw.strip():
            raise InvalidRequest("The request body is empty; send the model input as JSON.", code=3003)
        try:
            return loads(raw)
        except JsonRefused as exc:
            if "json" in content_type:
                raise InvalidRequest(f"The request body is not valid JSON: {exc.reason}", code=5006) from None
    return raw


def streams(inputs: Any) -> bool:
    return isinstance(inputs, dict) and inputs.get("stream") is True


async def answer(ai: AiService, custom_models: CustomModelService, account: str, model: str, inputs: Any,
                 caller_key: str | None) -> Answer:
    """The model's answer as Cloudflare sends it: SSE when streaming, raw bytes for PNG, else the envelope.
    `caller_key` sticks a caller to one version of a custom model's A/B split."""
    if model.startswith(CUSTOM_PREFIX):  # a team's own model (custom_models/), not the catalog's
        result, version = await custom_models.run(account, model, inputs, caller_key)
        return Answer({**model_headers(model), "x-kumo-model-version": version}, result)
    if streams(inputs):
        served, events = await ai.stream(model, inputs)
        return Answer(model_headers(served), events=events)
    run = await ai.run(model, inputs)
    output = run.output
    if isinstance(output.result, bytes):
        return Answer(model_headers(run.model), body=output.result, content_type=output.content_type)
    return Answer(model_headers(run.model), output.result)
