"""Encoder models on ONNX Runtime + `tokenizers` (no torch): embeddings (mean/cls pooling, L2-normalised),
text classification (softmax over the model's labels) and cross-encoder reranking (sigmoid scores).
Concurrent requests are micro-batched into shared forward passes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from kumo.ai.batching import MicroBatcher
from kumo.ai.runtimes.base import RunOutput, Runtime, require
from kumo.ai.weights import package_dir
from kumo.errors import InvalidRequest

MAX_BATCH = 64


class OnnxEncoder(Runtime):
    tasks = frozenset({"text-embeddings", "text-classification"})

    def __init__(self, entry, root: Path, threads: int | None = None):
        super().__init__(entry, root, threads)
        ort = require("onnxruntime", "onnxruntime")
        tokenizers = require("tokenizers", "tokenizers")
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.file("onnx", "model.onnx")), options,
                                            providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}
        tokenizer_root = root
        if entry.weights.get("tokenizer_package"):
            tokenizer_root = package_dir(entry.weights["tokenizer_package"]) or root
        self.tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_root / "tokenizer.json"))
        self.max_tokens = int(entry.config.get("max_tokens", 512))
        self.tokenizer.enable_truncation(self.max_tokens)
        pad_id = self.tokenizer.token_to_id("[PAD]")
        if pad_id is None:
            pad_id = self.tokenizer.token_to_id("<pad>") or 0
        self.tokenizer.enable_padding(pad_id=pad_id)
        self.mode = entry.config.get("mode", "embed")
        self.labels = self._labels(root)
        self.batcher = MicroBatcher(self._forward, MAX_BATCH)

    @staticmethod
    def _labels(root: Path) -> dict[int, str]:
        config = root / "config.json"
        if config.exists():
            mapping = json.loads(config.read_text()).get("id2label") or {}
            return {int(k): v for k, v in mapping.items()}
        return {}

    # ---- the forward pass (worker thread) ----------------------------------------------------
    def _feed(self, encodings) -> dict[str, np.ndarray]:
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feed["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
        return {k: v for k, v in feed.items() if k in self.input_names}

    def _forward(self, key: str, items: list[Any]) -> list[Any]:
        if key == "pairs":
            encodings = self.tokenizer.encode_batch([tuple(p) for p in items])
        else:
            encodings = self.tokenizer.encode_batch(items)
        feed = self._feed(encodings)
        output = self.session.run(None, feed)[0]
        if key in ("mean", "cls"):
            return list(self._pool(output, feed["attention_mask"], key))
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

    # ---- requests ------------------------------------------------------------------------------
    def _tokens(self, texts: list[str]) -> int:
        return sum(min(len(e.ids), self.max_tokens) for e in self.tokenizer.encode_batch(texts, add_special_tokens=True))

    async def embed(self, texts: list[str], pooling: str = "mean") -> np.ndarray:
        vectors = await self.batcher.submit(pooling, texts)
        return np.stack(vectors)

    async def run(self, inputs: dict[str, Any], options: dict[str, Any]) -> RunOutput:
        if self.mode == "rerank" or "query" in inputs:
            return await self._rerank(inputs)
        if self.mode == "classify":
            return await self._classify(inputs)
        text = inputs["text"]
        texts = [text] if isinstance(text, str) else list(text)
        pooling = inputs.get("pooling", "mean")
        vectors = await self.embed(texts, pooling)
        return RunOutput(
            {"shape": list(vectors.shape), "data": vectors.astype(float).tolist(), "pooling": pooling},
            usage={"prompt_tokens": (tokens := self._tokens(texts)), "total_tokens": tokens},
        )

    async def _classify(self, inputs: dict[str, Any]) -> RunOutput:
        if "text" not in inputs:
            raise InvalidRequest(f"{self.entry.name} classifies `text`")
        [logits] = await self.batcher.submit("logits", [inputs["text"]])
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        result = [{"label": self.labels.get(i, str(i)), "score": float(p)} for i, p in enumerate(probs)]
        result.sort(key=lambda r: -r["score"])
        return RunOutput(result)

    async def _rerank(self, inputs: dict[str, Any]) -> RunOutput:
        if self.mode != "rerank":
            raise InvalidRequest(f"{self.entry.name} is not a reranker; send `text`")
        query = inputs["query"]
        pairs = [(query, c["text"]) for c in inputs["contexts"]]
        logits = await self.batcher.submit("pairs", pairs)
        scores = [float(1 / (1 + np.exp(-np.asarray(l).reshape(-1)[0]))) for l in logits]
        ranked = sorted(({"id": i, "score": s} for i, s in enumerate(scores)), key=lambda r: -r["score"])
        top_k = inputs.get("top_k")
        return RunOutput({"response": ranked[:top_k] if top_k else ranked})
