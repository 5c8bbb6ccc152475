"""Translating between OpenAI's chat/embeddings formats and Workers AI model inputs/outputs
(`/ai/v1/chat/completions`, `/ai/v1/embeddings`)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import numpy as np

from kumo.api.body import JsonRefused, loads
from kumo.errors import InvalidRequest

_PASSTHROUGH = ("temperature", "top_p", "seed", "frequency_penalty", "presence_penalty", "top_k",
                "repetition_penalty", "response_format", "tools", "tool_choice", "stream")
# every chat setting a Workers AI model is given (the rest of an OpenAI request is for other providers)
CHAT_KEYS = frozenset({"model", "messages", "max_tokens", "max_completion_tokens", "stream_options", "options",
                       *_PASSTHROUGH})


def chat_request_to_input(body: dict[str, Any]) -> dict[str, Any]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("`messages` must be a non-empty array")
    converted = []
    for m in messages:
        if not isinstance(m, dict) or "role" not in m:
            raise InvalidRequest("each message needs a `role`")
        role = m["role"]
        role = "system" if role == "developer" else role
        item: dict[str, Any] = {"role": role, "content": m.get("content")}
        if m.get("tool_calls"):
            calls = m["tool_calls"]
            if not isinstance(calls, list) or not all(isinstance(c, dict) and isinstance(c.get("function"), dict)
                                                      and isinstance(c["function"].get("name"), str) for c in calls):
                raise InvalidRequest("`tool_calls` must be an array of {id, type, function: {name, arguments}}")
            item["tool_calls"] = [
                {"name": c["function"]["name"], "arguments": _loads(c["function"].get("arguments"))}
                for c in m["tool_calls"] if c.get("function")
            ]
        if m.get("tool_call_id"):
            item["tool_call_id"] = m["tool_call_id"]
        converted.append(item)
    inputs: dict[str, Any] = {"messages": converted}
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        inputs["max_tokens"] = max_tokens
    for key in _PASSTHROUGH:
        if body.get(key) is not None:
            inputs[key] = body[key]
    if body.get("options"):
        inputs["options"] = body["options"]
    return inputs


def _loads(arguments: Any) -> Any:
    if isinstance(arguments, str):
        try:
            return loads(arguments or "{}")
        except JsonRefused:
            return {}
    return arguments or {}


def chat_completion(model: str, result: dict[str, Any], max_tokens: int | None) -> dict[str, Any]:
    usage = result.get("usage") or {}
    tool_calls = result.get("tool_calls") or []
    content = result.get("response")
    if content is not None and not isinstance(content, str):
        content = json.dumps(content)  # JSON mode: OpenAI clients expect the JSON as text
    message: dict[str, Any] = {"role": "assistant", "content": content if not tool_calls else content or None}
    finish = "stop"
    if tool_calls:
        message["tool_calls"] = [
            {"id": "call_" + uuid.uuid4().hex[:24], "type": "function",
             "function": {"name": c["name"], "arguments": json.dumps(c.get("arguments", {}))}}
            for c in tool_calls
        ]
        finish = "tool_calls"
    elif max_tokens and usage.get("completion_tokens", 0) >= max_tokens:
        finish = "length"
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": usage.get("prompt_tokens", 0),
                  "completion_tokens": usage.get("completion_tokens", 0),
                  "total_tokens": usage.get("total_tokens", 0)},
    }


class ChunkWriter:
    """OpenAI `chat.completion.chunk` objects for a stream of Workers AI events."""

    def __init__(self, model: str, include_usage: bool, max_tokens: int | None):
        self.id = "chatcmpl-" + uuid.uuid4().hex
        self.created = int(time.time())
        self.model = model
        self.include_usage = include_usage
        self.max_tokens = max_tokens
        self.started = False
        self.tool_calls = 0  # sent so far; a stream that sent any finishes with "tool_calls"

    def _chunk(self, delta: dict[str, Any], finish: str | None = None, usage: dict | None = None) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}] if usage is None else [],
        }
        if usage is not None:
            chunk["usage"] = usage
        return chunk

    def chunks(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        if not self.started:
            out.append(self._chunk({"role": "assistant", "content": ""}))
            self.started = True
        if event.get("response"):
            out.append(self._chunk({"content": event["response"]}))
        for call in event.get("tool_calls") or []:
            out.extend(self._tool_call(call))
        if "usage" in event:
            usage = event["usage"] or {}
            finish = "length" if self.max_tokens and usage.get("completion_tokens", 0) >= self.max_tokens else "stop"
            finish = "tool_calls" if self.tool_calls else finish
            out.append(self._chunk({}, finish))
            if self.include_usage:
                out.append(self._chunk({}, usage={k: usage.get(k, 0) for k in
                                                  ("prompt_tokens", "completion_tokens", "total_tokens")}))
        return out


    def _tool_call(self, call: dict[str, Any]) -> list[dict[str, Any]]:
        """OpenAI's delta format: the call's id, type and name with empty arguments, then the arguments."""
        index = self.tool_calls
        self.tool_calls += 1
        head = {"index": index, "id": "call_" + uuid.uuid4().hex[:24], "type": "function",
                "function": {"name": call["name"], "arguments": ""}}
        arguments = {"index": index, "function": {"arguments": json.dumps(call.get("arguments", {}))}}
        return [self._chunk({"tool_calls": [head]}), self._chunk({"tool_calls": [arguments]})]


def stream_flag(body: dict[str, Any]) -> bool:
    """`stream` as OpenAI takes it: a boolean, or null/absent for false."""
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequest(f"`stream` must be a boolean, not {type(stream).__name__}")
    return bool(stream)


def include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, dict) or not isinstance(options.get("include_usage", False), bool):
        raise InvalidRequest("`stream_options` must be an object whose `include_usage` is a boolean")
    return options.get("include_usage", False)


def embeddings_request_to_input(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    text = body.get("input")
    if isinstance(text, str):
        text = [text]
    if not isinstance(text, list) or not text or not all(isinstance(t, str) and t for t in text):
        raise InvalidRequest("`input` must be a non-empty string or an array of non-empty strings")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise InvalidRequest("`encoding_format` must be `float` or `base64`")
    return {"text": text}, encoding


def embeddings_response(model: str, result: dict[str, Any], usage: dict[str, int], encoding: str) -> dict[str, Any]:
    data = []
    for i, vector in enumerate(result["data"]):
        if encoding == "base64":
            embedding: Any = base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
        else:
            embedding = vector
        data.append({"object": "embedding", "index": i, "embedding": embedding})
    tokens = usage.get("prompt_tokens", 0)
    return {"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": usage.get("total_tokens", tokens)}}
