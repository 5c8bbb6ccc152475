"""The floor under any Python server of Workers AI: kumo's own in-process AiService (the same models, micro-
batcher and threads) behind a bare ASGI app on the same uvicorn, with no routing, auth, middleware, limits,
validation beyond the body's JSON or logging. What a request costs here, over what the service costs in
process, is the HTTP exchange itself (client, kernel, uvicorn): no server on this machine and this client pays less.

Started like `kumo serve` by the benchmarks (`KumoServer(kumo=[python, bench/ai_floor.py])`), so it takes the
same `serve --host H --port P --data-dir D [--log-level L]` arguments; KUMO_THREADS sets the model threads.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path

import orjson

RUN_PREFIX = "/ai/run/"


def make_floor_app(ai):
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await asyncio.get_running_loop().run_in_executor(None, ai.close)
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        path = scope["path"]
        status, answer = 404, {"success": False, "errors": [{"code": 7000, "message": "No route for that URI"}]}
        if path == "/healthz":
            status, answer = 200, {"status": "ok"}
        elif RUN_PREFIX in path and scope["method"] == "POST":
            try:
                result = await ai.run(path.split(RUN_PREFIX, 1)[1], orjson.loads(body))
                status, answer = 200, {"result": result.output.result, "success": True, "errors": [], "messages": []}
            except Exception as exc:  # the floor answers like kumo would, without kumo's error mapping
                status, answer = 400, {"success": False, "errors": [{"code": 5006, "message": str(exc)}]}
        payload = orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})

    return app


def main() -> None:
    import uvicorn

    from kumo.ai.catalog import Catalog
    from kumo.ai.service import AiService
    from kumo.ai.weights import WeightsStore

    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["serve"])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--log-level", default="warning")
    args = ap.parse_args()
    threads = int(os.environ["KUMO_THREADS"]) if os.environ.get("KUMO_THREADS") else None
    models = args.data_dir / "models" if args.data_dir else Path(tempfile.mkdtemp(prefix="kumo-floor-models-"))
    ai = AiService(Catalog.load(), WeightsStore(models), threads=threads)
    uvicorn.run(make_floor_app(ai), host=args.host, port=args.port, log_level=args.log_level, access_log=False)


if __name__ == "__main__":
    main()
