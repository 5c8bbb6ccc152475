"""The floor under any Python vector server: a saved raw hnswlib index behind a bare ASGI app on the same uvicorn
as kumo, answering Vectorize's query shape (`{"vector": [...], "topK": k}` -> `result.matches[].id/score`)
with orjson and nothing else: no routing, auth, metadata, exact re-scoring, envelope checks or access log. What
its clients see on a machine is the most any single Python process serving them over HTTP can give.

Started like `kumo serve` by bench/vectorize_query.py --floor (`KumoServer(kumo=[python, this file])`), with
FLOOR_INDEX (a file of `hnswlib.Index.save_index`), FLOOR_DIMS and FLOOR_EF in the environment.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import orjson


def make_floor_app(index):
    not_found = orjson.dumps({"success": False, "errors": [{"code": 7000, "message": "No route for that URI"}]})

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        status, answer = 404, not_found
        if scope["path"] == "/healthz":
            status, answer = 200, b'{"status":"ok"}'
        elif scope["path"].endswith("/query") and scope["method"] == "POST":
            query = orjson.loads(body)
            labels, distances = index.knn_query(np.asarray(query["vector"], dtype=np.float32), k=query.get("topK", 5))
            matches = [{"id": str(label), "score": 1.0 - float(distance)}
                       for label, distance in zip(labels[0].tolist(), distances[0].tolist())]
            status, answer = 200, orjson.dumps({"result": {"count": len(matches), "matches": matches},
                                                "success": True, "errors": [], "messages": []})
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})

    return app


def main() -> None:
    import hnswlib
    import uvicorn

    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["serve"])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--data-dir", default=None)  # unused: the index comes from FLOOR_INDEX
    ap.add_argument("--log-level", default="warning")
    args = ap.parse_args()
    index = hnswlib.Index(space="cosine", dim=int(os.environ["FLOOR_DIMS"]))
    index.load_index(os.environ["FLOOR_INDEX"])
    index.set_ef(int(os.environ["FLOOR_EF"]))
    index.set_num_threads(1)
    uvicorn.run(make_floor_app(index), host=args.host, port=args.port, log_level=args.log_level, access_log=False)


if __name__ == "__main__":
    main()
