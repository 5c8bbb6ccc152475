"""OpenAI's Responses API (`/ai/v1/responses`) as OpenAI chat, for models that speak only chat (or another format
the gateway translates to from chat): the request translated to a chat request, the chat answer (or stream of
chunks) back to a Response (or the Responses stream's events). kumo keeps no responses, so what needs a stored one
(`previous_response_id`, `store: true`, `background`...) is refused by name, as is any setting chat cannot carry."""

from __future__ import annotations

import time
import uuid
from typing import Any

from kumo.errors import InvalidRequest
from kumo.gateway.formats.chunks import ChunkParts, Event, StreamTranslator, usage_numbers

PASSED = ("temperature", "top_p", "parallel_tool_calls", "user", "service_tier", "safety_identifier",
          "prompt_cache_key")
HANDLED = {"model", "input", "instructions", "max_output_tokens", "stream", "stream_options", "tools",
           "tool_choice", "text", "reasoning", "store", "truncation", "include", *PASSED}
NEEDS_STORE = ("previous_response_id", "conversation", "background", "prompt", "metadata")


def to_chat(body: dict[str, Any]) -> dict[str, Any]:
    for name in NEEDS_STORE:
        if body.get(name) not in (None, {}, False):
            raise InvalidRequest(f"`{name}` needs responses kept by the server; kumo keeps none for this model "
                                 "(send the whole conversation in `input`)")
    unknown = sorted(set(body) - HANDLED - set(NEEDS_STORE))
    if unknown:
        raise InvalidRequest(f"`{unknown[0]}` is not a Responses API setting kumo can send to this model")
    if body.get("store") is True:
        raise InvalidRequest("`store: true`: kumo keeps no responses for this model; send `store: false`")
    if body.get("truncation") not in (None, "disabled"):
        raise InvalidRequest("`truncation` must be `disabled`: kumo does not cut the conversation to fit")
    if body.get("include"):
        raise InvalidRequest("`include` asks for output kumo cannot add for this model; leave it empty")
    chat: dict[str, Any] = {"model": body.get("model"), "messages": _messages(body)}
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    for key in PASSED:
        if body.get(key) is not None:
            chat[key] = body[key]
    if body.get("tools") is not None:
        chat["tools"] = _tools(body["tools"])
    if body.get("tool_choice") is not None:
        chat["tool_choice"] = _tool_choice(body["tool_choice"])
    chat.update(_text_format(body.get("text")))
    reasoning = body.get("reasoning")
    if reasoning is not None:
        if not isinstance(reasoning, dict) or set(reasoning) - {"effort"}:
            raise InvalidRequest("`reasoning` may carry only `effort` for this model (no summaries in chat)")
        if reasoning.get("effort") is not None:
            chat["reasoning_effort"] = reasoning["effort"]
    options = body.get("stream_options")
    if options is not None and (not isinstance(options, dict) or options.get("include_obfuscation") is True
                                or set(options) - {"include_obfuscation"}):
        raise InvalidRequest("`stream_options` may only turn `include_obfuscation` off for this model")
    if body.get("stream") is not None:
        if not isinstance(body["stream"], bool):
            raise InvalidRequest("`stream` must be a boolean")
        if body["stream"]:
            chat["stream"] = True
            chat["stream_options"] = {"include_usage": True}  # `response.completed` carries the usage
    return chat


def _part(part: Any) -> dict[str, Any]:
    if isinstance(part, dict) and part.get("type") in ("input_text", "output_text", "text"):
        return {"type": "text", "text": str(part.get("text", ""))}
    if isinstance(part, dict) and part.get("type") == "input_image" and isinstance(part.get("image_url"), str):
        image: dict[str, Any] = {"url": part["image_url"]}
        if part.get("detail"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    kind = part.get("type") if isinstance(part, dict) else type(part).__name__
    raise InvalidRequest(f"a message part of type {kind!r} cannot be sent to this model (text and image URLs can)")


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise InvalidRequest("`instructions` must be a string")
        out.append({"role": "system", "content": instructions})
    items = body.get("input")
    if isinstance(items, str):
        return out + [{"role": "user", "content": items}]
    if not isinstance(items, list) or not items:
        raise InvalidRequest("`input` must be a string or a non-empty array of input items")
    for item in items:
        if not isinstance(item, dict):
            raise InvalidRequest("each `input` item must be an object")
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise InvalidRequest("an input message's `role` must be user, assistant, system or developer")
            content = item.get("content")
            if isinstance(content, list):
                parts = [_part(p) for p in content]
                content = "".join(p["text"] for p in parts) if all(p["type"] == "text" for p in parts) else parts
            elif not isinstance(content, str):
                raise InvalidRequest("an input message's `content` must be a string or an array of parts")
            out.append({"role": "system" if role == "developer" else role, "content": content})
        elif kind == "function_call":
            call = {"id": str(item.get("call_id")), "type": "function",
                    "function": {"name": str(item.get("name")), "arguments": str(item.get("arguments") or "{}")}}
            last = out[-1] if out else None
            if last is not None and last["role"] == "assistant" and last.get("tool_calls") is not None:
                last["tool_calls"].append(call)  # one assistant turn that called several functions
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            if not isinstance(output, (str, list)):
                raise InvalidRequest("a function_call_output's `output` must be a string or an array of parts")
            text = output if isinstance(output, str) else "".join(_part(p).get("text", "") for p in output)
            out.append({"role": "tool", "tool_call_id": str(item.get("call_id")), "content": text})
        elif kind == "reasoning":
            continue  # an earlier answer's reasoning, which chat has no place for (as a chat client drops it)
        else:
            raise InvalidRequest(f"an input item of type {kind!r} cannot be sent to this model")
    return out


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise InvalidRequest("`tools` must be an array")
    out = []
    for tool in tools:
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(tool.get("name"), str):
            kind = tool.get("type") if isinstance(tool, dict) else tool
            raise InvalidRequest(f"only function tools reach this model; {kind!r} tools run at OpenAI only")
        fn = {k: tool[k] for k in ("name", "description", "parameters", "strict") if tool.get(k) is not None}
        out.append({"type": "function", "function": fn})
    return out


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise InvalidRequest("`tool_choice` must be auto, none, required or {type: function, name}")


def _text_format(text: Any) -> dict[str, Any]:
    if text is None:
        return {}
    if not isinstance(text, dict) or set(text) - {"format", "verbosity"}:
        raise InvalidRequest("`text` may carry `format` and `verbosity`")
    out: dict[str, Any] = {}
    if text.get("verbosity") is not None:
        out["verbosity"] = text["verbosity"]
    fmt = text.get("format")
    if fmt is None or (isinstance(fmt, dict) and fmt.get("type") == "text"):
        return out
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        return {**out, "response_format": {"type": "json_object"}}
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if fmt.get(k) is not None}
        return {**out, "response_format": {"type": "json_schema", "json_schema": schema}}
    raise InvalidRequest("`text.format` must be {type: text}, {type: json_object} or {type: json_schema, name, schema}")


# ---- answers -----------------------------------------------------------------------------------------
def _usage(usage: dict[str, Any] | None) -> dict[str, Any]:
    tokens_in, tokens_out, cached = usage_numbers(usage)
    details = (usage or {}).get("completion_tokens_details") or {}
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else 0
    reasoning = reasoning if isinstance(reasoning, int) and not isinstance(reasoning, bool) else 0
    return {"input_tokens": tokens_in, "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": tokens_out, "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": tokens_in + tokens_out}


def _status(finish: str | None) -> tuple[str, dict[str, str] | None]:
    if finish == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def _response(request: dict[str, Any], model: str, rid: str, created: int, status: str, output: list,
              usage: dict[str, Any] | None, incomplete: dict[str, str] | None) -> dict[str, Any]:
    return {"id": rid, "object": "response", "created_at": created, "status": status, "model": model,
            "output": output, "usage": usage, "error": None, "incomplete_details": incomplete,
            "instructions": request.get("instructions"), "max_output_tokens": request.get("max_output_tokens"),
            "metadata": {}, "parallel_tool_calls": request.get("parallel_tool_calls", True),
            "temperature": request.get("temperature"), "top_p": request.get("top_p"),
            "tool_choice": request.get("tool_choice", "auto"), "tools": request.get("tools") or [],
            "text": request.get("text") or {"format": {"type": "text"}}, "store": False, "background": False,
            "previous_response_id": None, "reasoning": request.get("reasoning"), "truncation": "disabled",
            "user": request.get("user")}


def _message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {"type": "message", "id": item_id, "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}] if text or
            status == "completed" else []}


def from_chat(answer: dict[str, Any], model: str, request: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat completion as a Response."""
    choice = (answer.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    output: list[dict[str, Any]] = []
    text = message.get("content")
    if isinstance(text, str) and text:
        output.append(_message_item("msg_" + uuid.uuid4().hex, text))
    for call in message.get("tool_calls") or ():
        fn = call.get("function") or {}
        output.append({"type": "function_call", "id": "fc_" + uuid.uuid4().hex, "call_id": call.get("id"),
                       "name": fn.get("name"), "arguments": fn.get("arguments") or "{}", "status": "completed"})
    status, incomplete = _status(choice.get("finish_reason"))
    return _response(request, model, "resp_" + uuid.uuid4().hex, int(time.time()), status, output,
                     _usage(answer.get("usage")), incomplete)


class ResponsesStream(StreamTranslator):
    """The Responses stream's events: response.created / in_progress, each output item's added / delta / done
    events, and response.completed (or .incomplete) with the usage at the end."""

    def __init__(self, model: str, request: dict[str, Any]):
        super().__init__(model)
        self.request = request
        self.id = "resp_" + uuid.uuid4().hex
        self.created = int(time.time())
        self.sequence = 0
        self.output: list[dict[str, Any]] = []  # finished items
        self.text_item: dict[str, Any] | None = None  # the open message item
        self.text = ""
        self.calls: dict[int, dict[str, Any]] = {}  # OpenAI tool call index -> open function_call item

    def _event(self, kind: str, **fields: Any) -> Event:
        payload = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return kind, payload

    def _snapshot(self, status: str, usage: dict[str, Any] | None = None,
                  incomplete: dict[str, str] | None = None) -> dict[str, Any]:
        return _response(self.request, self.model, self.id, self.created, status, list(self.output), usage, incomplete)

    def _opening(self) -> list[Event]:
        return [self._event("response.created", response=self._snapshot("in_progress")),
                self._event("response.in_progress", response=self._snapshot("in_progress"))]

    def _content(self, parts: ChunkParts) -> list[Event]:
        out: list[Event] = []
        if parts.text:
            if self.text_item is None:
                out += self._close_calls()
                self.text_item = _message_item("msg_" + uuid.uuid4().hex, "", "in_progress")
                index = len(self.output)
                out.append(self._event("response.output_item.added", output_index=index, item=self.text_item))
                out.append(self._event("response.content_part.added", item_id=self.text_item["id"],
                                       output_index=index, content_index=0,
                                       part={"type": "output_text", "text": "", "annotations": [], "logprobs": []}))
            self.text += parts.text
            out.append(self._event("response.output_text.delta", item_id=self.text_item["id"],
                                   output_index=len(self.output), content_index=0, delta=parts.text, logprobs=[]))
        for tool in parts.tools:
            call = self.calls.get(tool.index)
            if call is None:
                out += self._close_text()
                call = {"type": "function_call", "id": "fc_" + uuid.uuid4().hex,
                        "call_id": tool.id or "call_" + uuid.uuid4().hex[:24], "name": tool.name or "",
                        "arguments": "", "status": "in_progress", "_index": len(self.output) + len(self.calls)}
                self.calls[tool.index] = call
                out.append(self._event("response.output_item.added", output_index=call["_index"],
                                       item=_public(call)))
            if tool.arguments:
                call["arguments"] += tool.arguments
                out.append(self._event("response.function_call_arguments.delta", item_id=call["id"],
                                       output_index=call["_index"], delta=tool.arguments))
        return out

    def _finished(self) -> list[Event]:
        return self._close_text() + self._close_calls()

    def _close_text(self) -> list[Event]:
        if self.text_item is None:
            return []
        item, index = _message_item(self.text_item["id"], self.text), len(self.output)
        self.text_item, self.text = None, ""
        self.output.append(item)
        part = item["content"][0]
        return [self._event("response.output_text.done", item_id=item["id"], output_index=index, content_index=0,
                            text=part["text"], logprobs=[]),
                self._event("response.content_part.done", item_id=item["id"], output_index=index, content_index=0,
                            part=part),
                self._event("response.output_item.done", output_index=index, item=item)]

    def _close_calls(self) -> list[Event]:
        out = []
        for call in sorted(self.calls.values(), key=lambda c: c["_index"]):
            item = {**_public(call), "status": "completed", "arguments": call["arguments"] or "{}"}
            self.output.append(item)
            out.append(self._event("response.function_call_arguments.done", item_id=item["id"],
                                   output_index=call["_index"], name=item["name"], arguments=item["arguments"]))
            out.append(self._event("response.output_item.done", output_index=call["_index"], item=item))
        self.calls = {}
        return out

    def _closing(self, usage: dict[str, Any] | None) -> list[Event]:
        status, incomplete = _status(self.finish)
        final = self._snapshot(status, _usage(usage), incomplete)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return [self._event(kind, response=final)]


def _public(call: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in call.items() if not k.startswith("_")}
