"""The floor under any Python vector server: a saved raw hnswlib index behind a bare ASGI app on the same uvicorn
as kumo (bench/_floor.py), answering Vectorize's query shape (`{"vector": [...], "topK": k}` ->
`result.matches[].id/score`) with orjson and nothing else: no routing, auth, metadata, exact re-scoring, envelope
checks or access log. What its clients see on a machine is the most any single Python process serving them over
HTTP can give. Run by bench/vectorize_query.py --floor, with FLOOR_INDEX (a file of `hnswlib.Index.save_index`),
FLOOR_DIMS and FLOOR_EF in the environment.
"""

from __future__ import annotations

import os

import numpy as np
import orjson

from _floor import NOT_FOUND, floor_app, serve


def make_floor_app(index):
    async def handle(scope: dict, body: bytes) -> tuple[int, bytes]:
        if not scope["path"].endswith("/query") or scope["method"] != "POST":
            return 404, NOT_FOUND
        query = orjson.loads(body)
        labels, distances = index.knn_query(np.asarray(query["vector"], dtype=np.float32), k=query.get("topK", 5))
        matches = [{"id": str(label), "score": 1.0 - float(distance)}
                   for label, distance in zip(labels[0].tolist(), distances[0].tolist())]
        return 200, orjson.dumps({"result": {"count": len(matches), "matches": matches},
                                  "success": True, "errors": [], "messages": []})

    return floor_app(handle)


def main() -> None:
    import hnswlib

    index = hnswlib.Index(space="cosine", dim=int(os.environ["FLOOR_DIMS"]))
    index.load_index(os.environ["FLOOR_INDEX"])
    index.set_ef(int(os.environ["FLOOR_EF"]))
    index.set_num_threads(1)
    serve(make_floor_app(index))


if __name__ == "__main__":
    main()
