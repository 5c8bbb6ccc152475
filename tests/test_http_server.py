"""kumo serve's uvicorn server: it wakes once a second, keeps its `date` header fresh and stops at once when
asked."""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time

import httpx
import uvicorn

from kumo.cli.http_server import Server


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Running:
    """The server on its own thread (no signal handlers there: handle_exit is called as a signal would)."""

    def __init__(self):
        self.port = free_port()
        self.server = Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None,
                                            lifespan="off"))
        self.ticks = 0
        on_tick = self.server.on_tick

        async def counted(counter: int) -> bool:
            self.ticks += 1
            return await on_tick(counter)

        self.server.on_tick = counted  # type: ignore[method-assign]
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline
            time.sleep(0.01)

    def get(self) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}/", timeout=5)


def test_wakes_once_a_second_and_keeps_the_date_fresh():
    running = Running()
    try:
        first = running.get().headers["date"]
        ticks = running.ticks
        time.sleep(2.5)
        assert running.ticks - ticks <= 3  # uvicorn's own loop: 25
        assert running.get().headers["date"] != first
    finally:
        running.server.stop()
        running.thread.join(10)


def test_a_stop_signal_is_acted_on_at_once():
    running = Running()
    time.sleep(0.2)  # asleep in the middle of a tick
    asked = time.monotonic()
    running.server.handle_exit(signal.SIGTERM, None)
    running.thread.join(10)
    assert not running.thread.is_alive()
    assert time.monotonic() - asked < 0.5  # not at the next tick, a second later
