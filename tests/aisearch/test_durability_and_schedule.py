"""What AI Search acknowledged survives `kill -9`; interrupted jobs are closed on restart; the scheduler
starts a sync once `sync_interval` has passed."""

from __future__ import annotations

import asyncio

from cloudflare import Cloudflare

from tests.aisearch.helpers import latest_job, search, upload, wait_for_job
from tests.conftest import Server


def test_acknowledged_items_survive_kill_9(tmp_path):
    srv = Server(tmp_path / "data").start()
    try:
        cf = Cloudflare(api_token="t", base_url=srv.url + "/client/v4", max_retries=0)
        cf.aisearch.namespaces.instances.create("default", account_id="acct", id="docs")
        upload(cf, "acct", "docs", "narwhal.md", b"Narwhals have a long spiral tusk.")
        srv.kill9()
        srv = Server(tmp_path / "data").start()
        cf = Cloudflare(api_token="t", base_url=srv.url + "/client/v4", max_retries=0)
        for kind in ("vector", "keyword"):
            assert [c.item.key for c in search(cf, "acct", "docs", "narwhal spiral tusk", retrieval_type=kind).chunks] \
                == ["narwhal.md"]
    finally:
        srv.stop()


def test_scheduler_syncs_when_the_interval_has_passed(tmp_path):
    from kumo.config import Settings
    from kumo.platform import Platform

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("Axolotls regrow limbs.")

    async def scenario() -> None:
        platform = Platform(Settings(data_dir=tmp_path / "data"))
        platform.start()
        await platform.start_async()
        service = platform.aisearch
        try:
            await service.create_instance("acct", "default", {"id": "docs", "source": str(folder),
                                                              "sync_interval": 900})
            record = service.instance("acct", "default", "docs")
            await service.jobs.wait(record.pk)
            jobs = service.store.list_jobs(record.pk, 0, 10)[0]
            assert [j.source for j in jobs] == ["user"]
            await service.jobs._start_due_syncs()  # not due yet
            assert service.store.list_jobs(record.pk, 0, 10)[1] == 1
            with service.store.db.transaction() as conn:  # pretend the last sync ran 20 minutes ago
                conn.execute("UPDATE aisearch_jobs SET started_at = '2000-01-01T00:00:00Z'")
            (folder / "b.md").write_text("Bilbies dig burrows.")
            await service.jobs._start_due_syncs()
            await service.jobs.wait(record.pk)
            jobs = service.store.list_jobs(record.pk, 0, 10)[0]
            assert [(j.source, j.end_reason) for j in jobs] == [("schedule", "completed"), ("user", "completed")]
            assert sorted(i.key for i in service.store.list_items(record.pk)[0]) == ["a.md", "b.md"]
            # a paused instance is not synced on schedule
            await service.update_instance("acct", "default", "docs", {"paused": True})
            with service.store.db.transaction() as conn:
                conn.execute("UPDATE aisearch_jobs SET started_at = '2000-01-01T00:00:00Z'")
            await service.jobs._start_due_syncs()
            assert service.store.list_jobs(record.pk, 0, 10)[1] == 2
        finally:
            await platform.stop_async()
            platform.close()

    asyncio.run(scenario())


def test_a_job_cut_by_a_crash_is_closed_on_restart(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for n in range(15):
        (folder / f"f{n}.md").write_text(f"Document {n} is about pangolins and their scales. " * 12)
    srv = Server(tmp_path / "data").start()
    try:
        cf = Cloudflare(api_token="t", base_url=srv.url + "/client/v4", max_retries=0)
        cf.aisearch.namespaces.instances.create("default", account_id="acct", id="docs", source=str(folder))
        job = latest_job(cf, "acct", "docs")
        srv.kill9()
        srv = Server(tmp_path / "data").start()
        cf = Cloudflare(api_token="t", base_url=srv.url + "/client/v4", max_retries=0)
        ended = wait_for_job(cf, "acct", "docs", job.id, timeout=30)
        assert ended.end_reason in ("interrupted", "completed")  # completed only if it beat the kill
        rerun = cf.aisearch.namespaces.instances.jobs.create("docs", account_id="acct", name="default")
        wait_for_job(cf, "acct", "docs", rerun.id, timeout=300)
        items = list(cf.aisearch.namespaces.instances.items.list("docs", account_id="acct", name="default",
                                                                 per_page=100))
        assert len(items) == 15 and {i.status for i in items} == {"completed"}
    finally:
        srv.stop()
