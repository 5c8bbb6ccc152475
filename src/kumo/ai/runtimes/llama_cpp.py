"""Chat and completion models on llama.cpp (llama-cpp-python, GGUF), in process.

The prompt is built with the chat template stored in the GGUF (Jinja), `raw` skips it. JSON mode and tool
calling are grammar-constrained, so the answer is always valid JSON of the asked shape (streamed tool calls are
sent whole once their JSON closes). One generation runs at a time per model, on a worker thread that holds the
model until it ends; requests wait in FIFO order (asyncio.Lock is fair), `rejectIfBusy` answers 429 instead of
waiting, and a stream whose consumer leaves stops after the token in progress.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from kumo.ai.errors import ModelBusy
from kumo.ai.runtimes.base import RunOutput, Runtime, require
from kumo.api.message_content import content_text
from kumo.api.threads import blocking
from kumo.errors import InvalidRequest

if TYPE_CHECKING:
    from llama_cpp.llama_types import ChatCompletionRequestMessage

DEFAULT_MAX_TOKENS = 256
DEFAULT_TEMPERATURE = 0.6
DEFAULT_CONTEXT = 4096


def normalise_tools(tools: list[dict]) -> list[dict]:
    """Cloudflare's flat `{name, description, parameters}` and OpenAI's `{type: function, function}`."""
    out = []
    for tool in tools:
        fn = tool.get("function", tool) if tool.get("type") == "function" else tool
        out.append({"name": fn["name"], "description": fn.get("description", ""),
                    "parameters": fn.get("parameters") or {"type": "object", "properties": {}}})
    return out


def _tool_schema(tools: list[dict], choice: Any = "auto") -> dict:
    """The grammar's schema: tool calls, or a plain answer. `tool_choice` "required" (or a named function)
    removes the plain answer, as in OpenAI's API."""
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name") or choice.get("name")
        tools = [t for t in tools if t["name"] == wanted]
        if not tools:
            raise InvalidRequest(f"tool_choice names a function that is not in `tools`: {wanted!r}")
    calls = [
        {"type": "object", "properties": {"name": {"const": t["name"]}, "arguments": t["parameters"]},
         "required": ["name", "arguments"]}
        for t in tools
    ]
    call_branch = {"type": "object", "properties": {"tool_calls": {"type": "array", "items": {"anyOf": calls},
                                                                   "minItems": 1}},
                   "required": ["tool_calls"]}
    if choice == "required" or isinstance(choice, dict):
        return call_branch
    return {"anyOf": [call_branch,
                      {"type": "object", "properties": {"response": {"type": "string"}}, "required": ["response"]}]}


def _tool_prompt(tools: list[dict]) -> str:
    return (
        "You can call these tools:\n" + json.dumps(tools, indent=1) + "\n"
        'To call tools, answer only with {"tool_calls": [{"name": <tool name>, "arguments": {...}}]}. '
        'To answer without a tool, answer only with {"response": "<your answer>"}.'
    )


class LlamaCpp(Runtime):
    tasks = frozenset({"text-generation"})

    def __init__(self, entry, root: Path, threads: int | None = None):
        super().__init__(entry, root, threads)
        llama_cpp = require("llama_cpp", "llama-cpp-python")
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        from llama_cpp.llama_grammar import LlamaGrammar

        self._grammar_cls = LlamaGrammar
        n_ctx = int(entry.config.get("n_ctx", DEFAULT_CONTEXT))
        self.llm = llama_cpp.Llama(
            model_path=str(self.file("gguf", "model.gguf")), n_ctx=n_ctx, n_threads=self.threads,
            n_threads_batch=self.threads, n_batch=512, verbose=False,
        )
        self.n_ctx = n_ctx
        template = self.llm.metadata.get("tokenizer.chat_template")
        eos_id, bos_id = self.llm.token_eos(), self.llm.token_bos()
        eos = self.llm._model.token_get_text(eos_id) if eos_id != -1 else ""
        bos = self.llm._model.token_get_text(bos_id) if bos_id != -1 else ""
        self.formatter = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos) if template else None
        self.max_token_bytes = _longest_token(self.llm)
        self._locks: dict[int, asyncio.Lock] = {}
        # Every evaluation on one thread: llama.cpp's OpenMP keeps a team of threads per calling thread, so
        # generations on the shared pool's threads made several teams, more OpenMP threads than cores, and libgomp
        # then spins only briefly before sleeping at each of a token's barriers (decode fell to ~60 % of raw).
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kumo-llama")

    # ---- scheduling -------------------------------------------------------------------------
    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(id(loop))
        if lock is None:
            lock = self._locks[id(loop)] = asyncio.Lock()
        return lock

    def busy(self) -> bool:
        return any(lock.locked() for lock in self._locks.values())

    async def _acquire(self, options: dict[str, Any]) -> asyncio.Lock:
        lock = self._lock()
        if options.get("rejectIfBusy") and lock.locked():
            raise ModelBusy()
        await lock.acquire()
        return lock

    async def _on_model(self, options: dict[str, Any], work: Callable[[], Any]) -> asyncio.Future:
        """Run `work` on a worker thread while holding the model. The lock goes back when the thread ends, not
        when the caller stops waiting: a caller that vanishes (a client gone, a cancelled task) can neither leave
        the model locked nor let a second generation into llama.cpp beside a running one."""
        lock = await self._acquire(options)
        try:
            future = asyncio.get_running_loop().run_in_executor(self._thread, work)
        except BaseException:
            lock.release()
            raise
        future.add_done_callback(lambda _: lock.release())
        return future

    async def _generate(self, prompt: str, params: dict[str, Any],
                        options: dict[str, Any]) -> AsyncGenerator[tuple[str, str | None], None]:
        """(text, finish_reason) per token, generated on a worker thread. Closing this iterator (or cancelling its
        consumer) stops the generation after the token in progress; nothing here awaits on the way out, so
        even a consumer cancelled again while it closes cannot leave the model generating."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()

        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed (shutdown): nobody is listening any more
                stop.set()

        def work() -> None:
            try:
                for chunk in self.llm.create_completion(prompt, stream=True, **params):
                    choice = chunk["choices"][0]
                    put((choice["text"], choice.get("finish_reason")))
                    if stop.is_set():
                        break
            except Exception as exc:  # surfaced to the consumer
                put(exc)
            finally:
                put(_DONE)

        await self._on_model(options, work)
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    return
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            stop.set()

    # ---- prompt building --------------------------------------------------------------------
    def _messages(self, inputs: dict[str, Any], tools: list[dict] | None) -> list[dict[str, str]] | str:
        """The chat messages to template, or the raw prompt text when `raw` is set."""
        if "prompt" in inputs:
            if inputs.get("raw"):
                return inputs["prompt"]
            messages = [{"role": "user", "content": inputs["prompt"]}]
        else:
            messages = [{"role": m["role"], "content": content_text(m.get("content"))} for m in inputs["messages"]]
            for original, message in zip(inputs["messages"], messages):
                if original.get("tool_calls") and not message["content"]:
                    message["content"] = json.dumps({"tool_calls": original["tool_calls"]})
        if tools:
            system = _tool_prompt(tools)
            if messages and messages[0]["role"] == "system":
                messages[0] = {"role": "system", "content": messages[0]["content"] + "\n\n" + system}
            else:
                messages.insert(0, {"role": "system", "content": system})
        return messages

    def _template(self, messages: list[dict[str, str]] | str) -> tuple[str, list[str]]:
        if isinstance(messages, str):
            return messages, []
        if self.formatter is None:
            text = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"
            return text, []
        # roles and string contents were checked against the task's schema: llama.cpp's message types
        formatted = self.formatter(messages=cast("list[ChatCompletionRequestMessage]", messages))
        stop = formatted.stop if isinstance(formatted.stop, list) else [formatted.stop] if formatted.stop else []
        return formatted.prompt, stop

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode(), add_bos=False, special=True))

    def _params(self, inputs: dict[str, Any], stop: list[str]) -> dict[str, Any]:
        params: dict[str, Any] = {
            "max_tokens": inputs.get("max_tokens", DEFAULT_MAX_TOKENS),
            "temperature": inputs.get("temperature", DEFAULT_TEMPERATURE),
            "stop": stop or None,
        }
        for ours, theirs in (("top_p", "top_p"), ("top_k", "top_k"), ("seed", "seed"),
                             ("repetition_penalty", "repeat_penalty"), ("frequency_penalty", "frequency_penalty"),
                             ("presence_penalty", "presence_penalty")):
            if inputs.get(ours) is not None:
                params[theirs] = inputs[ours]
        return params

    def _too_long(self, tokens: int, max_tokens: int, at_least: bool = False) -> InvalidRequest:
        return InvalidRequest(
            f"the prompt is {'at least ' if at_least else ''}{tokens} tokens and max_tokens is {max_tokens}; "
            f"{self.entry.name} here has a context window of {self.n_ctx} tokens (prompt + max_tokens must fit)"
        )

    async def _prepare(self, inputs: dict[str, Any], tools: list[dict] | None) -> tuple[str, dict[str, Any], int]:
        """(prompt, llama.cpp parameters, prompt tokens), refused with a 400 when prompt + max_tokens is over the
        context window. A prompt whose size alone proves it too long is refused before any templating or
        tokenizing; a large one is templated and counted off the event loop."""
        messages = self._messages(inputs, tools)
        texts = [messages] if isinstance(messages, str) else [m["content"] for m in messages]
        size = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
        max_tokens = inputs.get("max_tokens", DEFAULT_MAX_TOKENS)
        least = size // self.max_token_bytes  # no token covers more bytes than the vocabulary's longest
        if least + max_tokens > self.n_ctx:
            raise self._too_long(least, max_tokens, at_least=True)

        def build() -> tuple[str, dict[str, Any], int]:
            prompt, stop = self._template(messages)
            used = self.count_tokens(prompt)
            if used + max_tokens > self.n_ctx:
                raise self._too_long(used, max_tokens)
            return prompt, self._params(inputs, stop), used

        return build() if size < _INLINE_PROMPT_BYTES else await blocking(build)

    # ---- non-streaming ------------------------------------------------------------------------
    def _schema(self, inputs: dict[str, Any]) -> tuple[list[dict] | None, dict | None]:
        """(tools offered, the JSON schema the answer is constrained to) — both None for free text."""
        choice = inputs.get("tool_choice", "auto")
        tools = normalise_tools(inputs["tools"]) if inputs.get("tools") and choice != "none" else None
        if tools:
            return tools, _tool_schema(tools, choice)
        if inputs.get("response_format"):
            return None, _json_schema_of(inputs["response_format"])
        return None, None

    async def run(self, inputs: dict[str, Any], options: dict[str, Any]) -> RunOutput:
        tools, schema = self._schema(inputs)
        prompt, params, _ = await self._prepare(inputs, tools)
        if schema is not None:
            params["grammar"] = self._grammar(schema)
        future = await self._on_model(options, lambda: self.llm.create_completion(prompt, **params))
        completion = await asyncio.shield(future)  # a cancelled caller must not mark the thread's work done
        text = completion["choices"][0]["text"]
        usage = {k: completion["usage"][k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
        if schema is None:
            return RunOutput({"response": text, "tool_calls": [], "usage": usage}, usage=usage)
        return RunOutput(_structured(text, usage, bool(tools)), usage=usage)

    def _grammar(self, schema: dict):
        try:
            return self._grammar_cls.from_json_schema(json.dumps(schema), verbose=False)
        except Exception as exc:
            raise InvalidRequest(f"this JSON schema cannot be turned into a grammar: {exc}") from None

    # ---- streaming ------------------------------------------------------------------------------
    async def stream(self, inputs: dict[str, Any], options: dict[str, Any]) -> AsyncGenerator[dict[str, Any], None]:
        if inputs.get("response_format"):
            raise InvalidRequest("JSON mode does not support streaming; set stream to false")
        tools, schema = self._schema(inputs)
        prompt, params, prompt_tokens = await self._prepare(inputs, tools)
        if schema is not None:
            params["grammar"] = self._grammar(schema)
        completion_tokens = 0
        text: list[str] = []

        def usage() -> dict[str, int]:
            return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens}

        tokens = self._generate(prompt, params, options)
        try:
            async for piece, finish in tokens:
                if finish is None:  # the closing chunk carries no token
                    completion_tokens += 1
                if not piece:
                    continue
                if schema is None:
                    yield {"response": piece}
                else:  # tool calls are grammar-constrained JSON: whole calls are sent once the JSON closes
                    text.append(piece)
        finally:
            await tokens.aclose()
        if schema is not None:
            answer = _structured("".join(text), usage(), True)
            if answer["tool_calls"]:
                yield {"response": "", "tool_calls": answer["tool_calls"]}
            elif answer["response"]:
                yield {"response": answer["response"]}
        yield {"response": "", "usage": usage()}

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        self.llm.close() if hasattr(self.llm, "close") else None


_DONE = object()
_INLINE_PROMPT_BYTES = 64 * 1024  # smaller prompts are templated and counted on the event loop (well under 1 ms)


def _structured(text: str, usage: dict[str, int], tools: bool) -> dict[str, Any]:
    """The answer of a grammar-constrained generation: tool calls, a plain answer, or JSON mode's object."""
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        raise InvalidRequest(
            f"JSON Mode couldn't be met: the model stopped after {usage['completion_tokens']} tokens "
            "before closing its JSON; raise max_tokens"
        ) from None
    if not tools:
        return {"response": parsed, "usage": usage}
    if isinstance(parsed, dict) and "tool_calls" in parsed:
        return {"response": None, "tool_calls": parsed["tool_calls"], "usage": usage}
    text = parsed.get("response", "") if isinstance(parsed, dict) else text
    return {"response": text, "tool_calls": [], "usage": usage}


def _longest_token(llm) -> int:
    """Bytes of the vocabulary's longest token as stored (byte-level BPE's and SentencePiece's stored forms are
    never shorter than the bytes they stand for), so a text of n bytes is at least n / this many tokens."""
    text_of = llm._model.token_get_text
    return max((len(text_of(i).encode("utf-8", "replace")) for i in range(llm.n_vocab())), default=1) or 1


def _json_schema_of(response_format: dict[str, Any]) -> dict:
    kind = response_format.get("type")
    if kind == "json_schema":
        schema = response_format.get("json_schema")
        if isinstance(schema, dict) and isinstance(schema.get("schema"), dict):
            return schema["schema"]  # OpenAI's wrapper {name, schema, strict}
        if not isinstance(schema, dict):
            raise InvalidRequest("response_format.json_schema must be a JSON Schema object")
        return schema
    return {"type": "object"}
