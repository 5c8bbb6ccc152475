"""Batch jobs on the shared PostgreSQL queue: several nodes and `kumo worker` processes consume it, each job
runs once, and the job of a killed worker is taken over when its lease runs out."""

from __future__ import annotations

import re
import subprocess
import time

import httpx

from tests.ai.test_batch import LLM, _poll
from tests.conftest import KUMO, PostgresDatabase, Server

URL = "/client/v4/accounts/b/ai/run/" + LLM


def _llm_job(client: httpx.Client, n: int, seed: int) -> str:
    requests = [{"prompt": f"Count to {i + 3}.", "max_tokens": 8, "seed": seed + i + 1} for i in range(n)]
    return client.post(URL, params={"queueRequest": "true"}, json={"requests": requests}).json()["result"]["request_id"]


def _done_lines(*logs) -> list[str]:
    return [job for log in logs for job in re.findall(r"batch job (\S+) done", log.read_text())]


def test_jobs_spread_over_two_nodes_and_each_runs_once(tmp_path):
    with PostgresDatabase() as db:
        env = {"KUMO_DATABASE_URL": db.url}
        a = Server(tmp_path / "a", env=env).start()
        b = Server(tmp_path / "b", env=env).start()
        try:
            with httpx.Client(base_url=a.url, headers={"authorization": "Bearer t"}, timeout=60) as ca, \
                    httpx.Client(base_url=b.url, headers={"authorization": "Bearer t"}, timeout=60) as cb:
                ids = [_llm_job(ca if i % 2 else cb, 3, i * 10) for i in range(4)]
                for job_id in ids:  # any node answers for any job
                    done = _poll(cb, URL, job_id, timeout=240)
                    assert len(done["responses"]) == 3 and all(r["success"] for r in done["responses"])
            ran_on_a, ran_on_b = _done_lines(a.log), _done_lines(b.log)
            assert sorted(ran_on_a + ran_on_b) == sorted(ids)  # every job exactly once
            assert ran_on_a and ran_on_b  # and both nodes took some
        finally:
            a.stop()
            b.stop()


def _worker(data_dir, env: dict) -> subprocess.Popen:
    log = open(data_dir.parent / f"worker-{data_dir.name}.log", "ab")
    return subprocess.Popen([*KUMO, "worker", "--data-dir", str(data_dir)], env=env, stdout=log,
                            stderr=subprocess.STDOUT)


def test_kumo_worker_takes_over_the_job_of_a_killed_worker(tmp_path):
    with PostgresDatabase() as db:
        node = Server(tmp_path / "node", env={"KUMO_DATABASE_URL": db.url, "KUMO_BATCH_WORKER": "false"}).start()
        worker_env = {**node.env, "KUMO_BATCH_LEASE_SECONDS": "3"}
        first = _worker(tmp_path / "w1", worker_env)
        second = None
        try:
            with httpx.Client(base_url=node.url, headers={"authorization": "Bearer t"}, timeout=60) as client:
                job_id = _llm_job(client, 8, 100)
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:  # wait until the first worker holds it
                    status = client.post(URL, params={"queueRequest": "true"}, json={"request_id": job_id})
                    if status.json()["result"].get("status") == "running":
                        break
                    time.sleep(0.1)
                else:
                    raise AssertionError("no worker claimed the job")
                first.kill()
                first.wait()
                second = _worker(tmp_path / "w2", worker_env)
                done = _poll(client, URL, job_id, timeout=240)
            assert len(done["responses"]) == 8 and all(r["success"] for r in done["responses"])
        finally:
            for proc in (first, second):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    proc.wait(30)
            node.stop()
