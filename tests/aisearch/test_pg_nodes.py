"""Two kumo nodes on one PostgreSQL database: an instance made and an item uploaded through one node is
searched through the other with the same answers; the sync scheduler of two nodes opens one job, the
instance lock holds across nodes, and a job is cancelled through the node that does not run it."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from kumo.errors import KumoError
from tests.conftest import PostgresDatabase, Server

BASE = "/client/v4/accounts/{account}/ai-search/namespaces/default/instances"
DOCS = {
    "otters.md": b"Sea otters hold hands while they sleep so they do not drift apart.",
    "rockets.md": b"A rocket engine burns kerosene with liquid oxygen to produce thrust.",
    "bees.md": b"Honey bees dance to tell the hive where the flowers are.",
}


@pytest.fixture(scope="module")
def database():
    with PostgresDatabase("kumo_aisearch_nodes") as db:
        yield db.url


@pytest.fixture(scope="module")
def nodes(tmp_path_factory, database):
    env = {"KUMO_DATABASE_URL": database}
    a = Server(tmp_path_factory.mktemp("as-node-a") / "data", env=env).start()
    b = Server(tmp_path_factory.mktemp("as-node-b") / "data", env=env).start()
    yield a, b
    a.stop()
    b.stop()


def client(srv: Server, account: str) -> httpx.Client:
    return httpx.Client(base_url=srv.url + BASE.format(account=account), headers={"authorization": "Bearer t"},
                        timeout=60)


def test_made_on_one_node_searched_on_the_other(nodes, account):
    a, b = (client(n, account) for n in nodes)
    assert a.post("", json={"id": "kb"}).is_success
    for key, data in DOCS.items():
        r = a.post("/kb/items", data={"wait_for_completion": "true"}, files={"file": (key, data)})
        assert r.json()["result"]["status"] == "completed", r.text
    assert [i["id"] for i in b.get("").json()["result"]] == ["kb"]
    assert sorted(i["key"] for i in b.get("/kb/items").json()["result"]) == sorted(DOCS)
    for kind, query in (("vector", "animals that sleep holding hands"), ("keyword", "kerosene thrust"),
                        ("hybrid", "where do bees find flowers")):
        body = {"query": query, "ai_search_options": {"retrieval": {"retrieval_type": kind}}}
        there, here = (c.post("/kb/search", json=body).json()["result"] for c in (a, b))
        assert there == here and there["chunks"], (kind, there)
    assert b.delete("/kb").is_success
    assert a.get("/kb").status_code == 404


def test_scheduler_lock_and_cancel_across_nodes(database, tmp_path):
    from kumo.config import Settings
    from kumo.platform import Platform

    folder = tmp_path / "docs"
    folder.mkdir()
    for key, data in DOCS.items():
        (folder / key).write_bytes(data)

    async def scenario() -> None:
        one, two = (Platform(Settings(data_dir=tmp_path / name, database_url=database)) for name in ("one", "two"))
        for platform in (one, two):
            platform.start()
            await platform.start_async()
        try:
            a, b = one.aisearch, two.aisearch
            await a.create_instance("sched", "default", {"id": "docs", "source": str(folder)})
            record = a.instance("sched", "default", "docs")
            first = await b.jobs.running_job(record.pk)  # node two sees node one's initial sync
            assert first is not None and first == a.jobs.running_job_here(record.pk)
            with pytest.raises(KumoError, match="already running"):
                await b.jobs.start_job(record, "user", None)
            await a.jobs.wait(record.pk)

            # both schedulers find the instance due at once: one job is opened, by one of them
            with a.store.db.transaction() as conn:
                conn.execute("UPDATE aisearch_jobs SET started_at = '2000-01-01T00:00:00Z'")
            await asyncio.gather(a.jobs._start_due_syncs(), b.jobs._start_due_syncs())
            await asyncio.gather(a.jobs.wait(record.pk), b.jobs.wait(record.pk))
            jobs = a.store.list_jobs(record.pk, 0, 10)[0]
            assert [(j.source, j.end_reason) for j in jobs] == [("schedule", "completed"), ("user", "completed")]

            # node two holds the instance's lock: node one's job waits for it, and is cancelled through node two
            async with b.jobs.lock(record.pk):
                job = await a.jobs.start_job(record, "user", "blocked")
                await asyncio.sleep(0.5)
                assert a.store.job_logs(job.pk, 0, 10) == []  # not started: the lock is held elsewhere
                assert await b.jobs.cancel(record.pk, job.pk)
                await asyncio.sleep(1.5)  # node one renews its lease every second and hears of the cancel
            await b.jobs.wait(record.pk, job.pk)
            assert a.store.get_job(record.pk, job.id).end_reason == "cancelled"
        finally:
            for platform in (one, two):
                await platform.stop_async()
                platform.close()

    asyncio.run(scenario())
