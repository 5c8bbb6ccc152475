"""Dynamic micro-batching: concurrent requests share forward passes, results go back to their callers."""

from __future__ import annotations

import asyncio
import time

from kumo.ai.micro_batcher import MicroBatcher


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


def test_a_large_request_is_split_and_a_small_one_goes_next():
    batches: list[list[str]] = []

    def forward(key, items):
        batches.append(list(items))
        time.sleep(0.005 * len(items))  # time grows with the padded size: 4 items of size 100 take 20 ms
        return items

    batcher = MicroBatcher(forward, max_items=64, target_seconds=0.02, start_budget=400)

    async def main():
        large = asyncio.ensure_future(batcher.submit("k", [f"L{i}" for i in range(100)], [100] * 100))
        await asyncio.sleep(0.005)  # the large request's first batch is running
        small = await batcher.submit("k", ["S"], [2])
        return small, await large

    small, large = asyncio.run(main())
    assert small == ["S"] and large == [f"L{i}" for i in range(100)]
    assert max(len(b) for b in batches) <= 4  # the budget bounds every batch
    assert next(i for i, b in enumerate(batches) if "S" in b) <= 2  # not after the 25 batches of the large one


def test_requests_waiting_together_share_one_pass_whatever_the_learned_budget():
    """32 one-sentence requests that wait together run as one pass even when the budget (learned on a busy
    machine) would fit 8: splitting them only adds passes, each of them waiting for all anyway."""
    batches: list[int] = []
    seen: list[int] = []

    def forward(key, items):
        batches.append(len(items))
        return items

    batcher = MicroBatcher(forward, max_items=64, start_budget=256)
    batcher.on_batch = seen.append
    sizes = [12, 30] * 16  # short sentences of different lengths: padding them is cheaper than another pass

    async def main():
        return await asyncio.gather(*(batcher.submit("k", [i], [sizes[i]]) for i in range(32)))

    assert asyncio.run(main()) == [[i] for i in range(32)]
    assert batches == [32] and seen == [32]


def test_the_first_round_is_still_bounded():
    """Many long texts waiting together are not one huge pass: the first round stops at a few budgets."""
    batches: list[int] = []

    def forward(key, items):
        batches.append(len(items))
        time.sleep(0.05 * len(items))  # 512 padded tokens in 50 ms: the learned budget stays at 256
        return items

    batcher = MicroBatcher(forward, max_items=64, start_budget=256)

    async def main():
        return await asyncio.gather(*(batcher.submit("k", [i], [512]) for i in range(8)))

    assert asyncio.run(main()) == [[i] for i in range(8)]
    assert max(batches) == 2 and sum(batches) == 8  # 4 x 256 padded tokens hold two 512-token texts


def _closed_loop(forward_seconds: float, delays: list[float], rounds: int) -> tuple[list[int], dict[int, float]]:
    """Callers that each send their next single-item request `delays[i]` seconds after their answer (a client's
    turnaround): the size of every pass, and how long each caller's second request took."""
    calls: list[int] = []

    def forward(key, items):
        calls.append(len(items))
        time.sleep(forward_seconds)
        return items

    batcher = MicroBatcher(forward, max_items=64)
    second: dict[int, float] = {}

    async def caller(index: int) -> None:
        for n in range(rounds):
            started = time.perf_counter()
            assert await batcher.submit("k", [(index, n)]) == [(index, n)]
            if n == 1:
                second[index] = time.perf_counter() - started
            await asyncio.sleep(delays[index])

    async def main():
        await asyncio.gather(*(caller(i) for i in range(len(delays))))

    asyncio.run(main())
    return calls, second


def test_callers_coming_back_a_moment_later_share_the_next_pass():
    # 8 callers back 0-7 ms after their answer, passes of 40 ms: a quarter of a pass (10 ms) brings them together
    calls, _ = _closed_loop(0.040, [i / 1000 for i in range(8)], rounds=6)
    assert sum(calls) == 48
    assert calls.count(8) >= 5 and len(calls) <= 7, calls  # without the wait: a pass of 1, then of 7, and so on


def test_the_wait_for_callers_is_bounded():
    # one caller is back at once, three only after 150 ms: the first goes alone after at most 10 ms of waiting
    calls, second = _closed_loop(0.040, [0.0, 0.150, 0.150, 0.150], rounds=2)
    assert calls[:2] == [4, 1], calls
    assert second[0] < 0.100  # its pass did not wait for the others (a 40 ms pass after at most 10 ms)


def test_passes_run_on_the_batchers_own_thread():
    """One thread of the batcher's own runs every pass: on the shared pool a pass went to whichever thread was
    free and a second woken one fought it for the GIL (a 5 ms forest predict cost 8-10 ms of CPU)."""
    import threading

    who: list[str] = []

    def forward(key, items):
        who.append(threading.current_thread().name)
        return items

    batcher = MicroBatcher(forward)

    async def main():
        loop = asyncio.get_running_loop()
        for n in range(5):
            busy = [loop.run_in_executor(None, time.sleep, 0.01) for _ in range(3)]  # the shared pool in use
            assert await batcher.submit("k", [n]) == [n]
            await asyncio.gather(*busy)

    asyncio.run(main())
    assert len(who) == 5 and len(set(who)) == 1 and who[0].startswith("kumo-batch")


def test_a_closed_batcher_serves_again_on_a_new_thread():
    batcher = MicroBatcher(lambda key, items: [item * 2 for item in items])

    async def ask(n):
        return await batcher.submit("k", [n])

    assert asyncio.run(ask(1)) == [2]
    batcher.close()
    batcher.close()  # twice is harmless
    assert asyncio.run(ask(2)) == [4]
    batcher.close()


# ---- lanes: one-core passes side by side -------------------------------------------------------------------

def _laned(lanes: int = 2, seconds: float = 0.0):
    """A batcher with `lanes` one-core lanes whose passes are recorded as (kind, start, end, items)."""
    import threading

    passes: list[tuple[str, float, float, list]] = []
    lock = threading.Lock()

    def run(kind):
        def forward(key, items):
            start = time.perf_counter()
            time.sleep(seconds)
            with lock:
                passes.append((kind, start, time.perf_counter(), list(items)))
            return items
        return forward

    return MicroBatcher(run("wide"), max_items=64, lane_fn=run("lane"), lanes=lanes), passes


def test_waiting_items_are_shared_out_between_lanes_that_run_side_by_side():
    import threading

    both = threading.Barrier(2, timeout=5)  # passes if, and only if, two passes run at once

    def lane(key, items):
        both.wait()
        return items

    batcher = MicroBatcher(lambda key, items: items, max_items=64, lane_fn=lane, lanes=2)

    async def main():
        return await asyncio.gather(*(batcher.submit("k", [i]) for i in range(6)))

    assert asyncio.run(main()) == [[i] for i in range(6)]
    batcher.close()


def test_a_large_request_is_split_over_the_lanes():
    batcher, passes = _laned(seconds=0.01)
    assert asyncio.run(batcher.submit("k", list(range(64)))) == list(range(64))
    assert sorted(len(p[3]) for p in passes) == [32, 32] and {p[0] for p in passes} == {"lane"}
    batcher.close()


def test_a_lone_item_runs_on_every_core_and_nothing_runs_beside_it():
    batcher, passes = _laned(seconds=0.03)

    async def main():
        assert await batcher.submit("k", ["alone"]) == ["alone"]  # nothing else in flight: the wide pass
        first = asyncio.ensure_future(batcher.submit("k", ["first"]))
        await asyncio.sleep(0.01)  # the wide pass of "first" is under way
        rest = await asyncio.gather(*(batcher.submit("k", [i]) for i in range(4)))
        return await first, rest

    assert asyncio.run(main()) == (["first"], [[0], [1], [2], [3]])
    kinds = {tuple(p[3]): p[0] for p in passes}
    assert kinds[("alone",)] == "wide" and kinds[("first",)] == "wide"
    wide_end = next(p[2] for p in passes if p[3] == ["first"])
    later = [p for p in passes if p[3] not in (["alone"], ["first"])]
    assert {p[0] for p in later} == {"lane"} and all(p[1] >= wide_end for p in later)
    batcher.close()


def test_each_lane_has_a_thread_of_its_own():
    import threading

    who: set[tuple[int, str]] = set()

    def lane(key, items):
        who.add((threading.get_ident(), threading.current_thread().name))
        time.sleep(0.01)
        return items

    batcher = MicroBatcher(lambda key, items: items, lane_fn=lane, lanes=3)

    async def main():
        for _ in range(3):
            await asyncio.gather(*(batcher.submit("k", [i]) for i in range(9)))

    asyncio.run(main())
    assert len(who) == 3 and all(name.startswith("kumo-batch") for _, name in who)
    batcher.close()


def test_with_lanes_a_short_item_does_not_ride_along_with_long_ones():
    # one lane coming free serves the sentence sooner than a long pass would (a long text costs one core ~2x)
    batcher, passes = _laned(seconds=0.01)

    async def main():
        long = asyncio.ensure_future(batcher.submit("k", [f"long{i}" for i in range(6)], [500] * 6))
        await asyncio.sleep(0)
        assert await batcher.submit("k", ["short"], [12]) == ["short"]
        await long

    asyncio.run(main())
    [short_pass] = [p for p in passes if "short" in p[3]]
    assert short_pass[3] == ["short"], passes
    batcher.close()


def test_a_caller_gone_before_its_pass_costs_no_pass():
    batcher, passes = _laned(seconds=0.02)

    async def main():
        busy = asyncio.ensure_future(batcher.submit("k", ["first"]))  # a wide pass under way
        await asyncio.sleep(0.005)
        gone = asyncio.ensure_future(batcher.submit("k", ["gone"]))
        await asyncio.sleep(0)
        gone.cancel()
        assert await busy == ["first"]
        assert await batcher.submit("k", ["next"]) == ["next"]

    asyncio.run(main())
    assert all("gone" not in p[3] for p in passes), passes
    batcher.close()
