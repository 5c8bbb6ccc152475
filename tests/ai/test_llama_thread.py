"""Every llama.cpp evaluation of a model runs on the model's own thread.

llama.cpp (built with OpenMP) keeps a team of threads per calling thread. Generations started from the shared
pool's threads made several teams, more OpenMP threads than cores, and libgomp then sleeps almost at once at each
of a token's barriers: decode over HTTP ran at ~60 % of raw llama.cpp's rate, 92-95 % with a thread of the model's
own (bench/ai_llm.py)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from kumo.ai.catalog import Catalog
from kumo.ai.service import AiService
from kumo.ai.weights import WeightsStore

LLM = "@cf/meta/llama-3.1-8b-instruct"


def test_generations_run_on_the_models_one_thread(tmp_path: Path):
    ai = AiService(Catalog.load(), WeightsStore(tmp_path), threads=2)
    seen: list[str] = []

    async def main() -> None:
        runtime = (await ai.prepare(LLM)).runtime
        evaluate = runtime.llm.create_completion

        def recording(*args, **kwargs):
            seen.append(threading.current_thread().name)
            return evaluate(*args, **kwargs)

        runtime.llm.create_completion = recording
        ask = {"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 4}
        for _ in range(3):  # the shared pool busy meanwhile, so its threads would be taken in turn
            busy = [asyncio.get_running_loop().run_in_executor(None, threading.Event().wait, 0.05)
                    for _ in range(4)]
            await ai.run(LLM, ask)
            _, events = await ai.stream(LLM, {**ask, "stream": True})
            assert [e async for e in events][-1]["usage"]["completion_tokens"] >= 1
            await asyncio.gather(*busy)

    try:
        asyncio.run(main())
    finally:
        ai.close()
    assert len(seen) == 6 and len(set(seen)) == 1 and seen[0].startswith("kumo-llama")
