"""Access lines: at once when requests are far apart or the writer is not started, through the writer's thread
in order under load, each with its own request id and end time, and none lost at close."""

from __future__ import annotations

import io
import json
import logging
import threading
import time

import pytest

from kumo.api.access_lines import BUSY_GAP, FLUSH_EVERY, AccessLines
from kumo.log_format import JsonFormatter, RequestIdStamp


@pytest.fixture
def captured():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdStamp())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.access_lines")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    threads: list[str] = []
    emit = handler.emit
    handler.emit = lambda record: (threads.append(threading.current_thread().name), emit(record))  # type: ignore

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield logger, lines, threads
    logger.removeHandler(handler)


def line(n: int, at: float) -> tuple[float, str, dict]:
    return at, f"ray-{n}", {"method": "GET", "path": f"/p/{n}", "status": 200, "bytes": 2, "duration_ms": 1.0,
                            "client": "127.0.0.1:1"}


def started(logger: logging.Logger) -> AccessLines:
    access = AccessLines(logger)
    access.start()
    return access


def write_spaced(access: AccessLines, count: int, start: float, gap: float) -> None:
    """`count` lines of requests that ended `gap` seconds apart from `start` on."""
    for n in range(count):
        access.write(line(n, start + n * gap))


def test_without_the_writer_lines_are_written_at_once(captured):
    logger, lines, threads = captured
    access = AccessLines(logger)
    access.write(line(1, time.time()))
    assert [r["request_id"] for r in lines()] == ["ray-1"] and threads == ["MainThread"]


def test_far_apart_lines_are_written_at_once_while_started(captured):
    logger, lines, threads = captured
    access = started(logger)
    try:
        write_spaced(access, 3, time.time(), 10 * BUSY_GAP)
        assert [r["request_id"] for r in lines()] == ["ray-0", "ray-1", "ray-2"]
        assert set(threads) == {"MainThread"}
    finally:
        access.close()


def test_lines_under_load_go_through_the_thread_in_order(captured):
    logger, lines, threads = captured
    access = started(logger)
    try:
        start = time.time() - 1
        write_spaced(access, 200, start, BUSY_GAP / 10)
        deadline = time.monotonic() + 5
        while len(lines()) < 200 and time.monotonic() < deadline:
            time.sleep(FLUSH_EVERY / 5)
        got = lines()
        assert [r["request_id"] for r in got] == [f"ray-{n}" for n in range(200)]
        assert threads.count("kumo-access-lines") >= 199  # the first may be written at once
        # each keeps the time its request ended, not the time it was written (JSON's ts: ms, UTC)
        first = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(start)))
        assert got[0]["ts"].startswith(first) and got[0]["path"] == "/p/0"
    finally:
        access.close()


def test_close_writes_what_is_left(captured):
    logger, lines, _ = captured
    access = started(logger)
    write_spaced(access, 50, time.time(), BUSY_GAP / 10)
    access.close()
    assert len(lines()) == 50
    access.write(line(99, time.time()))  # closed: at once again
    assert lines()[-1]["request_id"] == "ray-99"
