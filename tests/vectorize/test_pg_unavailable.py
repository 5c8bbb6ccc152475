"""PostgreSQL going away under the pgvector engine: reads and writes answer 503 in Cloudflare's envelope
(never a 500), nothing is half-applied, and kumo recovers by itself when the server is back. Runs on a
private PostgreSQL server (tests/pg_instance.py) so the shared one is never stopped."""

from __future__ import annotations

import time

import httpx

from tests.conftest import Server, free_port
from tests.pg_instance import PrivatePostgres
from tests.vectorize.helpers import make_vectors, ndjson


def test_postgres_down_is_503_and_nothing_half_applied(tmp_path):
    pg = PrivatePostgres(free_port())
    pg.start()
    srv = None
    try:
        srv = Server(tmp_path / "data", env={"KUMO_DATABASE_URL": pg.url}).start()
        with httpx.Client(base_url=f"{srv.url}/client/v4/accounts/acct/vectorize/v2/indexes",
                          headers={"authorization": "Bearer t"}, timeout=60) as c:
            c.post("", json={"name": "pp", "config": {"dimensions": 4, "metric": "cosine"}}).raise_for_status()
            vectors = make_vectors(20, 4)
            c.post("/pp/upsert", content=ndjson(vectors[:10])).raise_for_status()
            pg.stop()
            for path, body in [("/pp/upsert", ndjson(vectors[10:])), ("/pp/query", '{"vector": [1, 0, 0, 0]}')]:
                r = c.post(path, content=body)  # each waits out the pool's connect timeout
                assert r.status_code == 503, r.text
                envelope = r.json()
                assert envelope["success"] is False and envelope["result"] is None
                assert "PostgreSQL" in envelope["errors"][0]["message"]
            pg.start()
            deadline = time.monotonic() + 30
            while (r := c.get("/pp/info")).status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert r.json()["result"]["vectorCount"] == 10  # the refused batch left nothing behind
            c.post("/pp/upsert", content=ndjson(vectors[10:])).raise_for_status()
            assert c.get("/pp/info").json()["result"]["vectorCount"] == 20
    finally:
        if srv is not None:
            srv.stop()
        pg.remove()
