"""A model served by another machine: any OpenAI-compatible server (vLLM, Ollama, llama.cpp server, TGI).

Configured per model in kumo.toml:

    [[models]]
    name = "@cf/meta/llama-3.1-8b-instruct"
    task = "text-generation"
    runtime = "remote"
    config = { base_url = "http://gpu-box:8000/v1", model = "meta-llama/Llama-3.1-8B-Instruct", api_key_env = "VLLM_KEY" }
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import httpx

from kumo.ai.runtimes.base import RunOutput, Runtime
from kumo.ai.runtimes.llama_cpp import normalise_tools
from kumo.api.message_content import content_text
from kumo.errors import InvalidRequest, ServiceUnavailable

_SAMPLING = ("max_tokens", "temperature", "top_p", "seed", "frequency_penalty", "presence_penalty")


class RemoteOpenAI(Runtime):
    tasks = frozenset({"text-generation", "text-embeddings"})

    def __init__(self, entry, root: Path, threads: int | None = None):
        super().__init__(entry, root, threads)
        config = entry.config
        if not config.get("base_url"):
            raise InvalidRequest(f"{entry.name}: a remote model needs config.base_url in kumo.toml")
        headers = {}
        key = os.environ.get(config["api_key_env"]) if config.get("api_key_env") else None
        if key:
            headers["authorization"] = f"Bearer {key}"
        self.model = config.get("model", entry.name)
        self.client = httpx.AsyncClient(base_url=config["base_url"].rstrip("/"), headers=headers,
                                        timeout=httpx.Timeout(float(config.get("timeout", 300)), connect=10))

    def _chat_body(self, inputs: dict[str, Any]) -> dict[str, Any]:
        if "prompt" in inputs:
            messages = [{"role": "user", "content": inputs["prompt"]}]
        else:
            messages = [{"role": m["role"], "content": content_text(m.get("content"))} for m in inputs["messages"]]
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        body.update({k: inputs[k] for k in _SAMPLING if inputs.get(k) is not None})
        body.setdefault("max_tokens", 256)
        if inputs.get("tools"):
            body["tools"] = [{"type": "function", "function": t} for t in normalise_tools(inputs["tools"])]
            if inputs.get("tool_choice") is not None:
                body["tool_choice"] = inputs["tool_choice"]
        if inputs.get("response_format"):
            body["response_format"] = inputs["response_format"]
        return body

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self.client.post(path, json=body)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"{self.entry.name}: the remote model server did not answer ({exc})") from None
        if response.status_code >= 400:
            raise ServiceUnavailable(f"{self.entry.name}: the remote model server answered "
                                     f"{response.status_code}: {response.text[:300]}")
        return response.json()

    async def run(self, inputs: dict[str, Any], options: dict[str, Any]) -> RunOutput:
        if self.entry.task.slug == "text-embeddings":
            texts = [inputs["text"]] if isinstance(inputs["text"], str) else inputs["text"]
            data = await self._post("/embeddings", {"model": self.model, "input": texts})
            vectors = [d["embedding"] for d in sorted(data["data"], key=lambda d: d["index"])]
            return RunOutput({"shape": [len(vectors), len(vectors[0]) if vectors else 0], "data": vectors,
                              "pooling": inputs.get("pooling", "mean")}, usage=data.get("usage", {}))
        data = await self._post("/chat/completions", self._chat_body(inputs))
        message = data["choices"][0]["message"]
        usage = data.get("usage") or {}
        tool_calls = [{"name": c["function"]["name"], "arguments": json.loads(c["function"]["arguments"] or "{}")}
                      for c in message.get("tool_calls") or []]
        response: Any = message.get("content")
        if inputs.get("response_format") and isinstance(response, str):
            try:
                response = json.loads(response)
            except json.JSONDecodeError:
                raise InvalidRequest("JSON Mode couldn't be met: the remote model did not answer JSON") from None
        return RunOutput({"response": response, "tool_calls": tool_calls, "usage": usage}, usage=usage)

    async def stream(self, inputs: dict[str, Any], options: dict[str, Any]) -> AsyncGenerator[dict[str, Any], None]:
        body = self._chat_body(inputs) | {"stream": True, "stream_options": {"include_usage": True}}
        usage: dict[str, Any] = {}
        calls: dict[int, dict[str, str]] = {}  # tool calls arrive in pieces (OpenAI's deltas), sent whole at the end
        try:
            async with self.client.stream("POST", "/chat/completions", json=body) as response:
                if response.status_code >= 400:
                    raise ServiceUnavailable(f"{self.entry.name}: the remote model server answered "
                                             f"{response.status_code}")
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    chunk = json.loads(data)
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or []:
                        delta = choice.get("delta") or {}
                        if delta.get("content"):
                            yield {"response": delta["content"]}
                        for piece in delta.get("tool_calls") or []:
                            call = calls.setdefault(piece.get("index", 0), {"name": "", "arguments": ""})
                            function = piece.get("function") or {}
                            call["name"] += function.get("name") or ""
                            call["arguments"] += function.get("arguments") or ""
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"{self.entry.name}: the remote stream broke ({exc})") from None
        if calls:
            yield {"response": "", "tool_calls": [{"name": c["name"], "arguments": _arguments(c["arguments"])}
                                                  for _, c in sorted(calls.items())]}
        yield {"response": "", "usage": usage}

    def close(self) -> None:
        pass


def _arguments(text: str) -> Any:
    try:
        return json.loads(text or "{}")
    except json.JSONDecodeError:
        raise ServiceUnavailable("the remote model streamed tool call arguments that are not JSON") from None
