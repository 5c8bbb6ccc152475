"""Small encoders serve concurrent callers in one-core lanes beside each other (bench/ai_embeddings.py: 32
single-sentence clients 211 vs 167 sentences/s on 2 cores), with the same answers as the pass on every core."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from kumo.ai.catalog import Catalog
from kumo.ai.runtimes import onnx_encoder
from kumo.ai.service import AiService
from kumo.ai.weights import WeightsStore

EMBED = "@cf/baai/bge-small-en-v1.5"
SENTENCES = [f"Sentence number {i} is about {topic}." for i, topic in
             enumerate(["llamas", "clouds", "rivers", "databases", "bridges", "tea"] * 3)]


def _encoder(tmp_path: Path, threads: int):
    ai = AiService(Catalog.load(), WeightsStore(tmp_path), threads=threads)

    async def prepare():
        return (await ai.prepare(EMBED)).runtime

    return ai, asyncio.run(prepare())


def test_concurrent_callers_are_served_in_lanes_with_the_wide_passes_answers(tmp_path: Path):
    ai, encoder = _encoder(tmp_path, threads=2)
    try:
        assert encoder.lane_session is not None and encoder.batcher.lanes == 2
        kinds: list[str] = []
        forward = encoder._forward

        def recording(key, items, session=None):
            kinds.append("lane" if session is encoder.lane_session else "wide")
            return forward(key, items, session=session)

        encoder._forward = recording
        encoder.batcher.fn = recording
        encoder.batcher.lane_fn = lambda key, items: recording(key, items, session=encoder.lane_session)

        async def main():
            alone = [await encoder.embed([s]) for s in SENTENCES[:3]]
            together = await asyncio.gather(*(encoder.embed([s]) for s in SENTENCES))
            return alone, together

        alone, together = asyncio.run(main())
        assert kinds[:3] == ["wide"] * 3 and "lane" in kinds[3:]
        for (vectors, _), (same, _) in zip(alone, together):
            np.testing.assert_allclose(vectors, same, atol=1e-5)  # one thread or two: the same vectors
    finally:
        ai.close()


def test_one_thread_or_a_large_model_gets_no_lanes(tmp_path: Path, monkeypatch):
    ai, encoder = _encoder(tmp_path / "one", threads=1)
    try:
        assert encoder.lane_session is None and encoder.batcher.lanes == 1
    finally:
        ai.close()
    monkeypatch.setattr(onnx_encoder, "LANES_MAX_MODEL_BYTES", 1024)
    ai, encoder = _encoder(tmp_path / "large", threads=2)
    try:
        assert encoder.lane_session is None and encoder.batcher.lanes == 1
    finally:
        ai.close()
