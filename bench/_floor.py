"""What the benchmarks' floors share: a bare ASGI app (no framework, no middleware) under the same uvicorn as kumo,
started like `kumo serve` (`serve --host H --port P --data-dir D [--log-level L]`), so `KumoServer(kumo=[python,
<floor script>])` runs it beside kumo. What a floor costs on a machine, no Python server there pays less."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

NOT_FOUND = b'{"success":false,"errors":[{"code":7000,"message":"No route for that URI"}]}'


async def read_body(receive) -> bytes:
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


def floor_app(handle: Callable[[dict, bytes], Awaitable[tuple[int, bytes]]],
              on_shutdown: Callable[[], Awaitable[None]] | None = None):
    """An ASGI app answering GET /healthz and, for everything else, `await handle(scope, body) -> (status, JSON)`."""

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            if on_shutdown is not None:
                await on_shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = await read_body(receive)
        status, payload = (200, b'{"status":"ok"}') if scope["path"] == "/healthz" else await handle(scope, body)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})

    return app


def serve(app) -> None:
    """Run `app` from `serve --host H --port P ...` arguments, as KumoServer starts `kumo serve`."""
    import uvicorn

    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["serve"])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--data-dir", default=None)  # floors keep nothing
    ap.add_argument("--log-level", default="warning")
    args = ap.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
