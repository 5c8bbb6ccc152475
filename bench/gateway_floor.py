"""The floor under any Python gateway: a bare ASGI app on the same uvicorn as kumo (bench/_floor.py) that forwards
the request body with aiohttp (kumo's upstream client) to FLOOR_UPSTREAM and hands back the answer: no routing,
auth, logging, usage or cost. Whatever CPU per request this costs on a machine, no Python gateway pays less.
Run by bench/gateway_cpu.py --floor.
"""

from __future__ import annotations

import os

from _floor import floor_app, serve


def make_floor_app(upstream: str):
    import aiohttp

    session: list[aiohttp.ClientSession] = []  # made on the server's loop, at the first request

    async def handle(scope: dict, body: bytes) -> tuple[int, bytes]:
        if not session:
            session.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256),
                                                 cookie_jar=aiohttp.DummyCookieJar(), trust_env=False))
        async with session[0].post(upstream + "/chat/completions", data=body,
                                   headers={"content-type": "application/json"}) as answer:
            return answer.status, await answer.read()

    async def close() -> None:
        if session:
            await session[0].close()

    return floor_app(handle, close)


if __name__ == "__main__":
    serve(make_floor_app(os.environ["FLOOR_UPSTREAM"]))
