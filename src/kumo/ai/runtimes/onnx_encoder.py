"""Encoder models on ONNX Runtime + `tokenizers` (no torch): embeddings (mean/cls pooling, L2-normalised),
text classification (softmax over the model's labels) and cross-encoder reranking (sigmoid scores).
Texts are tokenized once, in the request: over the requested model's `max_input_tokens` they are refused with a
400, then cut to what the model takes. Concurrent requests are micro-batched fairly into shared forward passes,
each batch padded to its own longest item."""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from kumo.ai.micro_batcher import MicroBatcher
from kumo.ai.errors import bad_input
from kumo.ai.runtimes.base import RunOutput, Runtime, require
from kumo.ai.weights import package_dir
from kumo.api.threads import blocking
from kumo.errors import InvalidRequest

MAX_BATCH = 64
_PREFIX_CHARS_PER_TOKEN = 16  # far more than real text has: a text this long is first counted on a prefix
_INLINE_CHARS = 4096
# A model file up to this size also gets a one-thread session for the batcher's lanes (micro_batcher.py): that is a
# second copy of its weights in memory, worth it for the small encoders (MiniLM, bge-small: 22-133 MB), not for
# bge-base's 436 MB or bge-m3's 2 GB, whose larger layers also keep two threads busier within one pass.
LANES_MAX_MODEL_BYTES = 256 * 1024 * 1024


class _Tokens(NamedTuple):
    ids: list[int]  # what the model runs
    types: list[int]
    counted: int  # the text's tokens, as usage counts them


class OnnxEncoder(Runtime):
    tasks = frozenset({"text-embeddings", "text-classification"})
    batcher_target = 0.025  # seconds a batch should take: what a small request may wait behind a large one

    def __init__(self, entry, root: Path, threads: int | None = None):
        super().__init__(entry, root, threads)
        ort = require("onnxruntime", "onnxruntime")
        tokenizers = require("tokenizers", "tokenizers")
        model = self.file("onnx", "model.onnx")
        self.session = self._session(ort, model, self.threads)
        lanes = self.threads > 1 and _model_bytes(model) <= LANES_MAX_MODEL_BYTES
        self.lane_session = self._session(ort, model, 1) if lanes else None
        self.input_names = {i.name for i in self.session.get_inputs()}
        tokenizer_root = root
        if entry.weights.get("tokenizer_package"):
            tokenizer_root = package_dir(entry.weights["tokenizer_package"]) or root
        self.tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_root / "tokenizer.json"))
        self.max_tokens = int(entry.config.get("max_tokens", 512))
        self.tokenizer.no_truncation()  # texts are counted whole (limits), then cut to what the model takes
        self.tokenizer.no_padding()  # a batch is padded to its own longest item
        pad_id = self.tokenizer.token_to_id("[PAD]")
        if pad_id is None:
            pad_id = self.tokenizer.token_to_id("<pad>") or 0
        self.pad_id = pad_id
        self.pairs = self.tokenizer.from_str(self.tokenizer.to_str())  # reranking: (query, text) pairs
        self.pairs.enable_truncation(self.max_tokens)
        self.mode = entry.config.get("mode", "embed")
        self.labels = self._labels(root)
        lane_fn = functools.partial(self._forward, session=self.lane_session) if self.lane_session else None
        self.batcher = MicroBatcher(self._forward, MAX_BATCH, self.batcher_target, self._calibrate(),
                                    lane_fn=lane_fn, lanes=self.threads)

    @staticmethod
    def _session(ort, model: Path, threads: int):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])

    def close(self) -> None:
        self.batcher.close()

    @staticmethod
    def _labels(root: Path) -> dict[int, str]:
        config = root / "config.json"
        if config.exists():
            mapping = json.loads(config.read_text()).get("id2label") or {}
            return {int(k): v for k, v in mapping.items()}
        return {}

    # ---- the forward pass (worker thread) ----------------------------------------------------
    def _feed(self, items: list[_Tokens]) -> dict[str, np.ndarray]:
        width = max(len(t.ids) for t in items)
        ids = np.full((len(items), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(items), width), dtype=np.int64)
        types = np.zeros((len(items), width), dtype=np.int64)
        for row, t in enumerate(items):
            ids[row, : len(t.ids)] = t.ids
            mask[row, : len(t.ids)] = 1
            types[row, : len(t.types)] = t.types
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return {k: v for k, v in feed.items() if k in self.input_names}

    def _forward(self, key: str, items: list[_Tokens], session=None) -> list[Any]:
        """One pass; `session`: the one-thread session of a lane (default: the session on every core)."""
        feed = self._feed(items)
        output = (session or self.session).run(None, feed)[0]
        if key in ("mean", "cls"):
            mask = feed.get("attention_mask")
            if mask is None:
                mask = (feed["input_ids"] != self.pad_id).astype(np.int64)
            return list(self._pool(output, mask, key))
        return list(output)

    @staticmethod
    def _pool(hidden: np.ndarray, mask: np.ndarray, pooling: str) -> np.ndarray:
        if hidden.ndim == 2:  # the graph already pooled
            vectors = hidden
        elif pooling == "cls":
            vectors = hidden[:, 0]
        else:
            weights = mask[..., None].astype(np.float32)
            vectors = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)

    def _calibrate(self, width: int = 128) -> int:
        """A first batch budget from this machine's speed: two forward passes at load (the first also warms ONNX
        Runtime up, which would otherwise cost the first request; the lanes' session is warmed up too)."""
        item = _Tokens([self.pad_id + 1] * width, [0] * width, width)
        if self.lane_session is not None:
            self._forward("calibrate", [item], session=self.lane_session)
        self._forward("calibrate", [item])
        started = time.perf_counter()
        self._forward("calibrate", [item])
        return int(width * self.batcher_target / max(time.perf_counter() - started, 1e-6))

    # ---- tokens --------------------------------------------------------------------------------
    def _cut(self, ids: list[int], types: list[int]) -> _Tokens:
        """A single text's tokens cut to what the model takes, keeping the closing special token."""
        if len(ids) > self.max_tokens:  # a stand-in with a shorter window than the requested model's
            return _Tokens(ids[: self.max_tokens - 1] + ids[-1:], types[: self.max_tokens], len(ids))
        return _Tokens(ids, types, len(ids))

    def _tokenize(self, texts: list[str], limit: int | None) -> list[_Tokens]:
        """Every text's tokens; a text over `limit` tokens is refused with a 400 that says which and why (with no
        limit, texts are cut to what the model takes). A long text is first counted on a prefix, so a 10 MB text
        costs what its first few thousand characters cost."""
        prefix = (limit or self.max_tokens) * _PREFIX_CHARS_PER_TOKEN
        if limit is None:  # only the first max_tokens tokens are used: the prefix holds them in any real text
            texts = [text[:prefix] for text in texts]
        for i, text in enumerate(texts):
            if limit is not None and len(text) > prefix:
                head = len(self.tokenizer.encode(text[:prefix]).ids)
                if head > limit:
                    raise self._over(i, head, limit, at_least=True)
        out = []
        for i, e in enumerate(self.tokenizer.encode_batch(texts)):
            if limit is not None and len(e.ids) > limit:
                raise self._over(i, len(e.ids), limit)
            out.append(self._cut(e.ids, e.type_ids))
        return out

    def _over(self, index: int, tokens: int, limit: int, at_least: bool = False) -> InvalidRequest:
        return bad_input(f"text[{index}] is {'at least ' if at_least else ''}{tokens} tokens; this model takes at "
                         f"most {limit} tokens per text (max_input_tokens)")

    async def _tokens(self, texts: list[str], limit: int | None) -> list[_Tokens]:
        if sum(len(t) for t in texts) <= _INLINE_CHARS:  # a few sentences: cheaper than a thread hop
            return self._tokenize(texts, limit)
        return await blocking(self._tokenize, texts, limit)

    # ---- requests ------------------------------------------------------------------------------
    async def embed(self, texts: list[str], pooling: str = "mean", limit: int | None = None) -> tuple[np.ndarray, int]:
        """(L2-normalised vectors, tokens counted)."""
        tokens = await self._tokens(texts, limit or self.max_tokens)
        vectors = await self.batcher.submit(pooling, tokens, [len(t.ids) for t in tokens])
        return np.stack(vectors), sum(t.counted for t in tokens)

    async def run(self, inputs: dict[str, Any], options: dict[str, Any]) -> RunOutput:
        if self.mode == "rerank" or "query" in inputs:
            return await self._rerank(inputs)
        if self.mode == "classify":
            return await self._classify(inputs)
        text = inputs["text"]
        texts = [text] if isinstance(text, str) else list(text)
        pooling = inputs.get("pooling", "mean")
        vectors, tokens = await self.embed(texts, pooling, options.get("max_input_tokens"))
        return RunOutput(
            {"shape": list(vectors.shape), "data": vectors.astype(float).tolist(), "pooling": pooling},
            usage={"prompt_tokens": tokens, "total_tokens": tokens},
        )

    async def _classify(self, inputs: dict[str, Any]) -> RunOutput:
        if "text" not in inputs:
            raise InvalidRequest(f"{self.entry.name} classifies `text`")
        [tokens] = await self._tokens([inputs["text"]], None)
        [logits] = await self.batcher.submit("logits", [tokens], [len(tokens.ids)])
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        result: list[dict[str, Any]] = [{"label": self.labels.get(i, str(i)), "score": float(p)}
                                        for i, p in enumerate(probs)]
        result.sort(key=lambda r: -r["score"])
        return RunOutput(result)

    async def _rerank(self, inputs: dict[str, Any]) -> RunOutput:
        if self.mode != "rerank":
            raise InvalidRequest(f"{self.entry.name} is not a reranker; send `text`")
        query = inputs["query"]
        prefix = self.max_tokens * _PREFIX_CHARS_PER_TOKEN  # what truncation keeps lies in the first characters
        texts = [(query[:prefix], c["text"][:prefix]) for c in inputs["contexts"]]
        pairs = [_Tokens(e.ids, e.type_ids, len(e.ids)) for e in await blocking(self.pairs.encode_batch, texts)]
        logits = await self.batcher.submit("pairs", pairs, [len(p.ids) for p in pairs])
        scores = [float(1 / (1 + np.exp(-np.asarray(l).reshape(-1)[0]))) for l in logits]
        ranked = sorted(({"id": i, "score": s} for i, s in enumerate(scores)), key=lambda r: -r["score"])
        top_k = inputs.get("top_k")
        return RunOutput({"response": ranked[:top_k] if top_k else ranked})


def _model_bytes(model: Path) -> int:
    """The model's size on disk, its external weights (`model.onnx_data` and the like) included."""
    return sum(f.stat().st_size for f in model.parent.iterdir() if f.is_file() and f.name.startswith(model.name))
