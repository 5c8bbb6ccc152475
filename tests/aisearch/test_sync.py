"""A local folder as the source (kumo's stand-in for an R2 bucket): the first sync indexes it, later syncs
embed only what changed and drop what left, through the SDK's jobs and items."""

from __future__ import annotations

import json
import os
import time

import cloudflare
import pytest

from tests.aisearch.helpers import latest_job, make_docx, search, upload, wait_for_job


def logs(cf, account, item_id):
    return cf.aisearch.namespaces.instances.items.logs(item_id, account_id=account, name="default", id="docs")


def items_by_key(cf, account):
    return {i.key: i for i in cf.aisearch.namespaces.instances.items.list("docs", account_id=account, name="default")}


def sync(cf, account):
    job = cf.aisearch.namespaces.instances.jobs.create("docs", account_id=account, name="default",
                                                       description="test sync")
    assert job.source == "user" and job.description == "test sync"
    return wait_for_job(cf, account, "docs", job.id)


def test_incremental_sync(cf, account, tmp_path):
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.md").write_text("# Alpacas\n\nAlpacas are domesticated camelids from South America.")
    (folder / "b.md").write_text("# Beavers\n\nBeavers build dams across streams.")
    (folder / "sub" / "c.txt").write_text("Chinchillas have very dense fur.")
    (folder / "broken.docx").write_bytes(b"PK\x03\x04 not really a docx")
    (folder / ".hidden.md").write_text("never indexed")

    created = cf.aisearch.namespaces.instances.create("default", account_id=account, id="docs", source=str(folder))
    assert created.source == str(folder.resolve()) and created.type == "r2"
    first = wait_for_job(cf, account, "docs", latest_job(cf, account, "docs").id)
    assert first.end_reason == "completed"
    items = items_by_key(cf, account)
    assert {k: i.status for k, i in items.items()} == {"a.md": "completed", "b.md": "completed",
                                                       "sub/c.txt": "completed", "broken.docx": "error"}
    assert items["sub/c.txt"].metadata["folder"] == "sub/" and items["a.md"].source_id.startswith("r2:")
    assert "not a readable DOCX" in items["broken.docx"].error
    job_log = cf.aisearch.namespaces.instances.jobs.logs(first.id, account_id=account, name="default", id="docs")
    messages = [entry.message for entry in job_log]
    assert messages[0].startswith("sync started: 4 files")
    assert any(m.startswith("broken.docx: not a readable DOCX") for m in messages)
    assert messages[-1] == "sync finished: 3 indexed, 0 unchanged, 0 deleted, 1 errors"
    vectors_before = cf.aisearch.namespaces.instances.stats("docs", account_id=account, name="default")

    # change one file, touch another without changing it, fix the broken one, remove one
    time.sleep(0.01)
    (folder / "b.md").write_text("# Beavers\n\nBeavers build lodges with underwater entrances.")
    os.utime(folder / "a.md", (time.time() + 5, time.time() + 5))
    (folder / "broken.docx").write_bytes(make_docx(["Dormice hibernate for months."]))
    (folder / "sub" / "c.txt").unlink()
    second = sync(cf, account)
    assert second.end_reason == "completed"
    last = cf.aisearch.namespaces.instances.jobs.logs(second.id, account_id=account, name="default", id="docs")[-1]
    assert last.message == "sync finished: 2 indexed, 1 unchanged, 1 deleted, 0 errors"
    after = items_by_key(cf, account)
    assert sorted(after) == ["a.md", "b.md", "broken.docx"]
    assert len(logs(cf, account, items["a.md"].id)) == 1  # not embedded again
    assert [log.action for log in logs(cf, account, items["b.md"].id)] == ["index", "index"]
    assert after["b.md"].id == items["b.md"].id and after["b.md"].checksum != items["b.md"].checksum
    assert after["broken.docx"].status == "completed"
    assert [log.action for log in logs(cf, account, items["sub/c.txt"].id)] == ["index", "delete"]

    # what left the folder left both indexes; what changed is found by its new words only
    assert search(cf, account, "docs", "chinchillas fur", retrieval_type="keyword").chunks == []
    assert search(cf, account, "docs", "dams streams", retrieval_type="keyword").chunks == []
    assert [c.item.key for c in search(cf, account, "docs", "lodges underwater", retrieval_type="keyword").chunks] \
        == ["b.md"]
    stats = cf.aisearch.namespaces.instances.stats("docs", account_id=account, name="default")
    assert stats.engine.vectorize.vectors_count == sum(i.chunks_count for i in after.values())
    assert stats.engine.vectorize.vectors_count == vectors_before.engine.vectorize.vectors_count  # -1 c, +1 docx

    # nothing changed: nothing read or embedded
    third = sync(cf, account)
    last = cf.aisearch.namespaces.instances.jobs.logs(third.id, account_id=account, name="default", id="docs")[-1]
    assert last.message == "sync finished: 0 indexed, 3 unchanged, 0 deleted, 0 errors"
    jobs = cf.aisearch.namespaces.instances.jobs.list("docs", account_id=account, name="default")
    assert [j.id for j in jobs] == [third.id, second.id, first.id]


def test_folder_items_api(cf, account, tmp_path, http):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("Aardvarks eat ants.")
    cf.aisearch.namespaces.instances.create("default", account_id=account, id="docs", source=str(folder))
    wait_for_job(cf, account, "docs", latest_job(cf, account, "docs").id)
    item = items_by_key(cf, account)["a.md"]
    raw = cf.aisearch.namespaces.instances.items.download(item.id, account_id=account, name="default", id="docs")
    assert raw.read() == b"Aardvarks eat ants."

    # a new file indexed by key, without a full sync
    (folder / "z.md").write_text("Zebras have stripes.")
    new = cf.aisearch.namespaces.instances.items.create_or_update("docs", account_id=account, name="default",
                                                                  key="z.md", next_action="INDEX",
                                                                  wait_for_completion=True)
    assert new.status == "completed" and new.key == "z.md"
    # re-index one item on demand
    (folder / "a.md").write_text("Aardvarks dig burrows.")
    synced = cf.aisearch.namespaces.instances.items.sync(item.id, account_id=account, name="default", id="docs",
                                                         next_action="INDEX", wait_for_completion=True)
    assert synced.status == "completed" and synced.checksum != item.checksum
    assert [c.item.key for c in search(cf, account, "docs", "burrows", retrieval_type="keyword").chunks] == ["a.md"]
    with pytest.raises(cloudflare.NotFoundError):
        cf.aisearch.namespaces.instances.items.create_or_update("docs", account_id=account, name="default",
                                                                key="missing.md", next_action="INDEX")
    response = http.post(f"/client/v4/accounts/{account}/ai-search/namespaces/default/instances/docs/items",
                         files={"file": ("x.md", b"x")})
    assert response.status_code == 400 and "put the file there and sync" in response.json()["errors"][0]["message"]


def test_changing_chunking_reindexes(cf, account, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "long.md").write_text("\n\n".join(f"Paragraph {n} about lemurs and their long tails." for n in range(40)))
    cf.aisearch.namespaces.instances.create("default", account_id=account, id="docs", source=str(folder),
                                            chunk_size=512)
    wait_for_job(cf, account, "docs", latest_job(cf, account, "docs").id)
    before = items_by_key(cf, account)["long.md"].chunks_count
    cf.aisearch.namespaces.instances.update("docs", account_id=account, name="default", chunk_size=64)
    job = latest_job(cf, account, "docs")
    assert job.description == "re-index after a settings change"
    wait_for_job(cf, account, "docs", job.id)
    assert items_by_key(cf, account)["long.md"].chunks_count > before


def test_only_one_job_at_a_time_and_cancel(cf, account, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for n in range(30):
        (folder / f"f{n}.md").write_text(f"File {n} is about quokkas. " * 50)
    cf.aisearch.namespaces.instances.create("default", account_id=account, id="docs", source=str(folder))
    job = latest_job(cf, account, "docs")
    with pytest.raises(cloudflare.BadRequestError, match="already running"):
        cf.aisearch.namespaces.instances.jobs.create("docs", account_id=account, name="default")
    cancelled = cf.aisearch.namespaces.instances.jobs.update(job.id, account_id=account, name="default", id="docs",
                                                             action="cancel")
    assert cancelled.ended_at is not None and cancelled.end_reason in ("cancelled", "completed")


def test_a_sync_removes_vectors_a_crash_left_behind(cf, account):
    cf.aisearch.namespaces.instances.create("default", account_id=account, id="docs")
    upload(cf, account, "docs", "a.md", b"Wombats make cube-shaped droppings.")
    # what a crash between the vector write and the chunk swap leaves: a vector without a chunk row
    orphan = json.dumps({"id": "orphan-1", "values": [0.05] * 384, "metadata": {"folder": ""}})
    cf.vectorize.indexes.upsert("ai-search-docs", account_id=account, body=orphan + "\n")
    found = search(cf, account, "docs", "wombats", retrieval_type="vector", match_threshold=0)
    assert [c.id for c in found.chunks if c.id == "orphan-1"] == []  # never answered
    job = sync(cf, account)
    messages = [e.message for e in cf.aisearch.namespaces.instances.jobs.logs(job.id, account_id=account,
                                                                              name="default", id="docs")]
    assert "removed 1 vectors left behind by an interrupted indexing" in messages
    assert cf.vectorize.indexes.get_by_ids("ai-search-docs", account_id=account, ids=["orphan-1"]) == []
