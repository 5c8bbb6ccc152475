"""Dynamic micro-batching: concurrent requests share forward passes, results go back to their callers."""

from __future__ import annotations

import asyncio
import time

from kumo.ai.batching import MicroBatcher


def test_concurrent_requests_share_batches():
    calls: list[int] = []

    def forward(key, items):
        calls.append(len(items))
        time.sleep(0.02)  # a forward pass
        return [f"{key}:{item}" for item in items]

    batcher = MicroBatcher(forward, max_items=16)

    async def main():
        return await asyncio.gather(*(batcher.submit("k", [i]) for i in range(40)))

    results = asyncio.run(main())
    assert [r[0] for r in results] == [f"k:{i}" for i in range(40)]
    assert len(calls) < 10 and max(calls) <= 16  # far fewer passes than requests


def test_keys_are_not_mixed_and_errors_reach_callers():
    def forward(key, items):
        if key == "bad":
            raise ValueError("boom")
        return [(key, item) for item in items]

    batcher = MicroBatcher(forward)

    async def main():
        ok = asyncio.gather(batcher.submit("a", [1, 2]), batcher.submit("b", [3]))
        bad = batcher.submit("bad", [4])
        results = await ok
        try:
            await bad
        except ValueError as exc:
            return results, str(exc)
        return results, None

    results, error = asyncio.run(main())
    assert results == [[("a", 1), ("a", 2)], [("b", 3)]] and error == "boom"
