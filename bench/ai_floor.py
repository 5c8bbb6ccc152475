"""The floor under any Python server of Workers AI: kumo's own in-process AiService (the same models, micro-
batcher and threads) behind a bare ASGI app on the same uvicorn (bench/_floor.py), with no routing, auth,
middleware, limits, validation beyond the body's JSON or logging. What a request costs here, over what the service
costs in process, is the HTTP exchange itself (client, kernel, uvicorn): no server on this machine and this client
pays less. Run by bench/ai_embeddings.py --floor; KUMO_THREADS sets the model threads.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import orjson

from _floor import NOT_FOUND, floor_app, serve

RUN_PREFIX = "/ai/run/"


def make_floor_app(ai):
    async def handle(scope: dict, body: bytes) -> tuple[int, bytes]:
        if RUN_PREFIX not in scope["path"] or scope["method"] != "POST":
            return 404, NOT_FOUND
        try:
            result = await ai.run(scope["path"].split(RUN_PREFIX, 1)[1], orjson.loads(body))
        except Exception as exc:  # the floor answers like kumo would, without kumo's error mapping
            return 400, orjson.dumps({"success": False, "errors": [{"code": 5006, "message": str(exc)}]})
        return 200, orjson.dumps({"result": result.output.result, "success": True, "errors": [], "messages": []},
                                 option=orjson.OPT_SERIALIZE_NUMPY)

    async def close() -> None:
        await asyncio.get_running_loop().run_in_executor(None, ai.close)

    return floor_app(handle, close)


def main() -> None:
    from kumo.ai.catalog import Catalog
    from kumo.ai.service import AiService
    from kumo.ai.weights import WeightsStore

    threads = int(os.environ["KUMO_THREADS"]) if os.environ.get("KUMO_THREADS") else None
    ai = AiService(Catalog.load(), WeightsStore(Path(tempfile.mkdtemp(prefix="kumo-floor-models-"))), threads=threads)
    serve(make_floor_app(ai))


if __name__ == "__main__":
    main()
