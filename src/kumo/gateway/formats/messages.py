"""Anthropic's Messages API (`/ai/v1/messages`) as OpenAI chat: the request translated to a chat request, the chat
answer (or stream of chunks) back to a Message (or Anthropic's stream events). Settings chat cannot express are
refused by name, never dropped."""

from __future__ import annotations

import json
import uuid
from typing import Any

from kumo.errors import InvalidRequest
from kumo.gateway.formats.chunks import ChunkParts, Event, StreamTranslator, usage_numbers

KNOWN = {"model", "messages", "system", "max_tokens", "temperature", "top_p", "top_k", "stop_sequences", "stream",
         "tools", "tool_choice", "metadata", "thinking"}
STOP_REASON = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
               "content_filter": "refusal"}


def to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """A Messages request as an OpenAI chat request (same model id)."""
    unknown = sorted(set(body) - KNOWN)
    if unknown:
        raise InvalidRequest(f"`{unknown[0]}` is not a Messages API setting kumo can send to this model")
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise InvalidRequest("`max_tokens` is required: a positive integer")
    thinking = body.get("thinking")
    if thinking is not None and not (isinstance(thinking, dict) and thinking.get("type") == "disabled"):
        raise InvalidRequest("`thinking` is Anthropic's own: this model is reached in OpenAI chat, which has no "
                             "thinking budget")
    chat: dict[str, Any] = {"model": body.get("model"), "messages": _system(body.get("system")) + _messages(body),
                            "max_tokens": max_tokens}
    for key in ("temperature", "top_p", "top_k"):
        if body.get(key) is not None:
            chat[key] = body[key]
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise InvalidRequest("`stop_sequences` must be an array of strings")
        if stops:
            chat["stop"] = stops
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict) or set(metadata) - {"user_id"}:
            raise InvalidRequest("`metadata` may carry only `user_id`")
        if metadata.get("user_id") is not None:
            chat["user"] = str(metadata["user_id"])
    if body.get("tools") is not None:
        chat["tools"] = _tools(body["tools"])
    if body.get("tool_choice") is not None:
        chat.update(_tool_choice(body["tool_choice"]))
    if body.get("stream") is not None:
        if not isinstance(body["stream"], bool):
            raise InvalidRequest("`stream` must be a boolean")
        if body["stream"]:
            chat["stream"] = True
            chat["stream_options"] = {"include_usage": True}  # the usage Anthropic's last events carry
    return chat


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(b, dict) and b.get("type") == "text" for b in content):
        return "".join(str(b.get("text", "")) for b in content)
    raise InvalidRequest(f"{where} must be a string or an array of text blocks")


def _system(system: Any) -> list[dict[str, Any]]:
    if system is None:
        return []
    return [{"role": "system", "content": _text(system, "`system`")}]


def _image(source: Any) -> dict[str, Any]:
    if isinstance(source, dict) and source.get("type") == "base64":
        return {"type": "image_url",
                "image_url": {"url": f"data:{source.get('media_type')};base64,{source.get('data', '')}"}}
    if isinstance(source, dict) and source.get("type") == "url" and isinstance(source.get("url"), str):
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    raise InvalidRequest("an image block's `source` must be {type: base64, media_type, data} or {type: url, url}")


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("`messages` must be a non-empty array of {role, content}")
    out: list[dict[str, Any]] = []
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise InvalidRequest("each message needs `role` user or assistant (the system prompt is `system`)")
        content = m.get("content")
        if isinstance(content, str):
            out.append({"role": m["role"], "content": content})
            continue
        if not isinstance(content, list) or not all(isinstance(b, dict) for b in content):
            raise InvalidRequest("a message's `content` must be a string or an array of content blocks")
        parts: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        for block in content:
            kind = block.get("type")
            if kind == "text":
                parts.append({"type": "text", "text": str(block.get("text", ""))})
            elif kind == "image" and m["role"] == "user":
                parts.append(_image(block.get("source")))
            elif kind == "tool_use" and m["role"] == "assistant":
                calls.append({"id": str(block.get("id")), "type": "function",
                              "function": {"name": str(block.get("name")),
                                           "arguments": json.dumps(block.get("input") or {})}})
            elif kind == "tool_result" and m["role"] == "user":
                result = block.get("content", "")
                text = result if isinstance(result, str) else _text(result, "a tool_result's `content`")
                out.append({"role": "tool", "tool_call_id": str(block.get("tool_use_id")),
                            "content": ("Error: " + text) if block.get("is_error") else text})
            elif kind in ("thinking", "redacted_thinking") and m["role"] == "assistant":
                continue  # an earlier answer's reasoning, which chat has no place for (as a chat client drops it)
            else:
                raise InvalidRequest(f"a {m['role']} message cannot carry a {kind!r} block for this model")
        if calls:
            text = "".join(p["text"] for p in parts if p["type"] == "text")
            out.append({"role": "assistant", "content": text or None, "tool_calls": calls})
        elif parts:
            plain = all(p["type"] == "text" for p in parts)
            out.append({"role": m["role"], "content": "".join(p["text"] for p in parts) if plain else parts})
    return out


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise InvalidRequest("`tools` must be an array")
    out = []
    for tool in tools:
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or tool.get("type") not in (None, "custom"):
            raise InvalidRequest("each tool must be {name, description, input_schema}; Anthropic's server tools "
                                 f"({tool.get('type') if isinstance(tool, dict) else tool!r}) run only at Anthropic")
        fn: dict[str, Any] = {"name": tool["name"], "parameters": tool.get("input_schema") or {"type": "object"}}
        if tool.get("description"):
            fn["description"] = tool["description"]
        out.append({"type": "function", "function": fn})
    return out


def _tool_choice(choice: Any) -> dict[str, Any]:
    if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
        raise InvalidRequest("`tool_choice` must be {type: auto | any | tool | none}")
    out: dict[str, Any] = {}
    kind = choice["type"]
    if kind == "tool":
        if not isinstance(choice.get("name"), str):
            raise InvalidRequest("`tool_choice` {type: tool} needs the tool's `name`")
        out["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    else:
        out["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[kind]
    if choice.get("disable_parallel_tool_use") is True:
        out["parallel_tool_calls"] = False
    return out


# ---- answers -----------------------------------------------------------------------------------------
def _usage(usage: dict[str, Any] | None) -> dict[str, Any]:
    tokens_in, tokens_out, cached = usage_numbers(usage)
    return {"input_tokens": tokens_in - cached, "output_tokens": tokens_out, "cache_read_input_tokens": cached,
            "cache_creation_input_tokens": 0}


def from_chat(answer: dict[str, Any], model: str) -> dict[str, Any]:
    """An OpenAI chat completion as a Message."""
    choice = (answer.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    text = message.get("content")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or ():
        fn = call.get("function") or {}
        try:
            arguments = json.loads(fn.get("arguments") or "{}")
        except json.JSONDecodeError:
            arguments = {}
        content.append({"type": "tool_use", "id": call.get("id") or "toolu_" + uuid.uuid4().hex[:24],
                        "name": fn.get("name"), "input": arguments})
    return {"id": "msg_" + uuid.uuid4().hex[:24], "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": STOP_REASON.get(choice.get("finish_reason"), "end_turn"),
            "stop_sequence": None, "usage": _usage(answer.get("usage"))}


class MessagesStream(StreamTranslator):
    """Anthropic's stream events: message_start, content blocks, then message_delta (the stop reason and usage) and
    message_stop at the end."""

    def __init__(self, model: str):
        super().__init__(model)
        self.block: int | None = None  # the open content block's index
        self.kind = ""  # its type: text | tool_use
        self.blocks = 0
        self.tool_blocks: dict[int, int] = {}  # OpenAI tool call index -> block index

    def _opening(self) -> list[Event]:
        message: dict[str, Any] = {"id": "msg_" + uuid.uuid4().hex[:24], "type": "message", "role": "assistant",
                                   "model": self.model, "content": [], "stop_reason": None, "stop_sequence": None,
                                   "usage": {"input_tokens": 0, "output_tokens": 0}}
        return [("message_start", {"type": "message_start", "message": message})]

    def _content(self, parts: ChunkParts) -> list[Event]:
        out: list[Event] = []
        if parts.text:
            if self.kind != "text":
                out += self._open({"type": "text", "text": ""}, "text")
            out.append(("content_block_delta", {"type": "content_block_delta", "index": self.block,
                                                "delta": {"type": "text_delta", "text": parts.text}}))
        for tool in parts.tools:
            if tool.index not in self.tool_blocks:
                block = {"type": "tool_use", "id": tool.id or "toolu_" + uuid.uuid4().hex[:24], "name": tool.name or "",
                         "input": {}}
                out += self._open(block, "tool_use")
                self.tool_blocks[tool.index] = self.blocks - 1  # the block just opened
            if tool.arguments:
                out.append(("content_block_delta", {"type": "content_block_delta", "index": self.tool_blocks[tool.index],
                                                    "delta": {"type": "input_json_delta",
                                                              "partial_json": tool.arguments}}))
        return out

    def _open(self, block: dict[str, Any], kind: str) -> list[Event]:
        out = self._close_block()
        self.block, self.kind = self.blocks, kind
        self.blocks += 1
        return out + [("content_block_start", {"type": "content_block_start", "index": self.block,
                                               "content_block": block})]

    def _close_block(self) -> list[Event]:
        if self.block is None:
            return []
        index, self.block, self.kind = self.block, None, ""
        return [("content_block_stop", {"type": "content_block_stop", "index": index})]

    def _closing(self, usage: dict[str, Any] | None) -> list[Event]:
        counts = _usage(usage)
        delta = {"type": "message_delta", "delta": {"stop_reason": STOP_REASON.get(self.finish or "", "end_turn"),
                                                    "stop_sequence": None},
                 "usage": {"output_tokens": counts["output_tokens"], "input_tokens": counts["input_tokens"],
                           "cache_read_input_tokens": counts["cache_read_input_tokens"]}}
        return self._close_block() + [("message_delta", delta), ("message_stop", {"type": "message_stop"})]
