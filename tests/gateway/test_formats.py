"""The Messages and Responses translations on their own: tool calls both ways, and streams of chat chunks turned
into each API's events (what the end-to-end tests' fake provider does not send)."""

from __future__ import annotations

import asyncio
import json

import pytest

from kumo.errors import InvalidRequest
from kumo.gateway.compat import translate_sse
from kumo.gateway.formats import messages, responses


def chunk(delta=None, finish=None, usage=None):
    out = {"id": "c", "object": "chat.completion.chunk", "choices": [] if delta is None else
           [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage:
        out["usage"] = usage
    return out


TOOL_STREAM = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Let me look."}),
    chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                           "function": {"name": "weather", "arguments": ""}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": ' "Paris"}'}}]}),
    chunk({}, "tool_calls"),
    chunk(usage={"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29}),
]


def test_messages_tool_round_trip():
    chat = messages.to_chat({
        "model": "openai/gpt-4o-mini", "max_tokens": 50, "system": [{"type": "text", "text": "Be brief."}],
        "tools": [{"name": "weather", "description": "Weather now", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True}, "stop_sequences": ["END"],
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [{"type": "text", "text": "Checking."},
                                              {"type": "tool_use", "id": "toolu_1", "name": "weather",
                                               "input": {"city": "Paris"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny"}]},
        ]})
    assert chat["messages"][0] == {"role": "system", "content": "Be brief."}
    assert chat["messages"][2]["tool_calls"][0]["function"] == {"name": "weather", "arguments": '{"city": "Paris"}'}
    assert chat["messages"][3] == {"role": "tool", "tool_call_id": "toolu_1", "content": "Sunny"}
    assert chat["tool_choice"] == "required" and chat["parallel_tool_calls"] is False and chat["stop"] == ["END"]
    assert chat["tools"][0]["function"]["parameters"] == {"type": "object"}
    answer = messages.from_chat({"choices": [{"finish_reason": "tool_calls", "message": {
        "content": None, "tool_calls": [{"id": "call_1", "function": {"name": "weather",
                                                                      "arguments": '{"city": "Paris"}'}}]}}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 9}}, "openai/gpt-4o-mini")
    assert answer["stop_reason"] == "tool_use" and answer["content"][0]["input"] == {"city": "Paris"}
    assert answer["usage"]["input_tokens"] == 20


def test_messages_stream_of_a_tool_call():
    writer = messages.MessagesStream("openai/gpt-4o-mini")
    events = [e for c in TOOL_STREAM for e in writer.feed(c)] + writer.close()
    kinds = [k for k, _ in events]
    assert kinds == ["message_start", "content_block_start", "content_block_delta", "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
                     "message_delta", "message_stop"]
    tool = events[4][1]["content_block"]
    assert tool["type"] == "tool_use" and tool["name"] == "weather" and tool["id"] == "call_1"
    arguments = "".join(d["delta"]["partial_json"] for k, d in events if k == "content_block_delta" and d["index"] == 1)
    assert json.loads(arguments) == {"city": "Paris"}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use" and events[-2][1]["usage"]["output_tokens"] == 9


def test_a_stream_that_never_finished_gets_no_clean_end():
    for writer in (messages.MessagesStream("m"), responses.ResponsesStream("m", {})):
        events = [e for c in TOOL_STREAM[:3] for e in writer.feed(c)] + writer.close()
        assert not {"message_stop", "response.completed"} & {k for k, _ in events}


def test_responses_function_call_round_trip():
    chat = responses.to_chat({
        "model": "anthropic/claude-3-5-haiku-latest", "instructions": "Be brief.", "max_output_tokens": 64,
        "tools": [{"type": "function", "name": "weather", "parameters": {"type": "object"}}],
        "tool_choice": {"type": "function", "name": "weather"},
        "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}}},
        "input": [
            {"role": "user", "content": "Weather in Paris?"},
            {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": '{"city":"Paris"}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "Sunny"},
        ]})
    assert chat["messages"][0] == {"role": "system", "content": "Be brief."}
    assert chat["messages"][2]["tool_calls"][0]["id"] == "call_1"
    assert chat["messages"][3] == {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"}
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "weather"}}
    assert chat["response_format"]["json_schema"]["name"] == "w" and chat["max_tokens"] == 64
    with pytest.raises(InvalidRequest, match="store"):
        responses.to_chat({"model": "m", "input": "x", "store": True})
    with pytest.raises(InvalidRequest, match="frequency_penalty"):
        responses.to_chat({"model": "m", "input": "x", "frequency_penalty": 1})


def test_responses_stream_of_a_tool_call():
    writer = responses.ResponsesStream("openai/gpt-4o-mini", {"model": "openai/gpt-4o-mini"})
    events = [e for c in TOOL_STREAM for e in writer.feed(c)] + writer.close()
    kinds = [k for k, _ in events]
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert [p["sequence_number"] for _, p in events] == list(range(len(events)))
    final = events[-1][1]["response"]
    assert [item["type"] for item in final["output"]] == ["message", "function_call"]
    assert final["output"][0]["content"][0]["text"] == "Let me look."
    assert final["output"][1]["arguments"] == '{"city": "Paris"}' and final["output"][1]["call_id"] == "call_1"
    assert final["usage"]["total_tokens"] == 29
    done = [p for k, p in events if k == "response.function_call_arguments.done"][0]
    assert done["output_index"] == 1


def test_compat_reframes_a_providers_events_as_chat_chunks():
    """Split anywhere, CRLF line ends, a line that is not JSON, and a raw U+2028 inside a JSON string (a line break
    to str.splitlines, not to SSE): every event arrives whole, then `data: [DONE]`."""
    text = "one\u2028two"
    raw = ('event: delta\r\ndata: {"text": "' + text + '"}\r\n\r\ndata: {not json\r\n\r\ndata: {"text": "!"}\r\n\r\n'
           ).encode()

    async def upstream():
        for i in range(0, len(raw), 7):
            yield raw[i:i + 7]

    async def collect():
        return b"".join([c async for c in translate_sse(upstream(), lambda e: [{"content": e["text"]}])])

    out = asyncio.run(collect())
    assert out == ('data: {"content":"one\\u2028two"}\n\ndata: {"content":"!"}\n\ndata: [DONE]\n\n').encode()


def test_compat_keeps_an_event_whose_text_is_not_valid_utf8():
    raw = b'data: {"text": "caf\xc3"}\n\ndata: {"text": "NaN", "n": NaN}\n\n'

    async def upstream():
        yield raw

    async def collect():
        return [json.loads(line[6:]) for line in b"".join(
            [c async for c in translate_sse(upstream(), lambda e: [{"content": e["text"]}])]).split(b"\n\n")
            if line.startswith(b"data: {")]

    assert asyncio.run(collect()) == [{"content": "caf\ufffd"}]  # NaN is not JSON: skipped
