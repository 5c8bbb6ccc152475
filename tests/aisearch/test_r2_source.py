"""An R2 bucket as an instance's source, as Cloudflare shapes it (`type: r2`, `source`: the bucket name,
`source_params` prefix / include_items / exclude_items): boto3 puts documents into kumo's R2, the instance
indexes them, and later syncs re-read only what changed by ETag and drop what was deleted."""

from __future__ import annotations

import uuid

import boto3
import cloudflare
import pytest
from botocore.config import Config

from tests.aisearch.helpers import latest_job, search, wait_for_job


@pytest.fixture
def s3(server, account):
    # dev mode (no API tokens, loopback): any key pair is accepted, as the README says
    return boto3.client("s3", endpoint_url=f"{server.url}/r2/{account}", aws_access_key_id="dev",
                        aws_secret_access_key="dev", region_name="auto", config=Config(retries={"max_attempts": 1}))


def job_summary(cf, account, instance, job_id):
    return cf.aisearch.namespaces.instances.jobs.logs(job_id, account_id=account, name="default", id=instance)[-1].message


def items_by_key(cf, account, instance):
    return {i.key: i for i in cf.aisearch.namespaces.instances.items.list(instance, account_id=account, name="default")}


def item_log_actions(cf, account, instance, item_id):
    logs = cf.aisearch.namespaces.instances.items.logs(item_id, account_id=account, name="default", id=instance)
    return [entry.action for entry in logs]


def test_bucket_source_syncs_by_etag(cf, account, s3):
    bucket = "docs-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="animals/alpacas.md", Body=b"# Alpacas\n\nAlpacas hum to each other softly.",
                  ContentType="text/markdown", Metadata={"team": "zoo", "priority": "3"})
    s3.put_object(Bucket=bucket, Key="animals/beavers.md", Body=b"# Beavers\n\nBeavers build dams across streams.")
    s3.put_object(Bucket=bucket, Key="animals/drafts/otters.md", Body=b"Otters hold hands while sleeping.")
    s3.put_object(Bucket=bucket, Key="other/chinchillas.txt", Body=b"Chinchillas have very dense fur.")
    s3.put_object(Bucket=bucket, Key="animals/", Body=b"")  # a "folder" marker holds nothing to index

    created = cf.aisearch.namespaces.instances.create(
        "default", account_id=account, id="bucket", source=bucket, type="r2",
        source_params={"prefix": "animals/", "include_items": ["**/*.md"], "exclude_items": ["**/drafts/**"]},
        custom_metadata=[{"field_name": "team", "data_type": "text"}, {"field_name": "priority", "data_type": "number"}])
    assert created.source == bucket and created.type == "r2"
    first = wait_for_job(cf, account, "bucket", latest_job(cf, account, "bucket").id)
    assert first.end_reason == "completed"
    assert job_summary(cf, account, "bucket", first.id) == "sync finished: 2 indexed, 0 unchanged, 0 deleted, 0 errors"
    items = items_by_key(cf, account, "bucket")
    assert sorted(items) == ["animals/alpacas.md", "animals/beavers.md"]
    assert items["animals/alpacas.md"].source_id == f"r2:{bucket}"
    assert items["animals/alpacas.md"].metadata["team"] == "zoo"  # the object's x-amz-meta-* fields
    assert items["animals/alpacas.md"].metadata["priority"] == 3
    hits = search(cf, account, "bucket", "alpacas hum", retrieval_type="keyword").chunks
    assert [c.item.key for c in hits] == ["animals/alpacas.md"]
    downloaded = cf.aisearch.namespaces.instances.items.download(
        items["animals/beavers.md"].id, account_id=account, name="default", id="bucket")
    assert downloaded.read() == b"# Beavers\n\nBeavers build dams across streams."

    # change one object, rewrite another with the same bytes (same ETag), delete a third, add a fourth
    s3.put_object(Bucket=bucket, Key="animals/beavers.md", Body=b"# Beavers\n\nBeavers build lodges of mud.")
    s3.put_object(Bucket=bucket, Key="animals/alpacas.md", Body=b"# Alpacas\n\nAlpacas hum to each other softly.",
                  Metadata={"team": "zoo", "priority": "3"})
    s3.put_object(Bucket=bucket, Key="animals/capybaras.md", Body=b"Capybaras relax in hot springs.")
    job = cf.aisearch.namespaces.instances.jobs.create("bucket", account_id=account, name="default")
    second = wait_for_job(cf, account, "bucket", job.id)
    assert job_summary(cf, account, "bucket", second.id) == "sync finished: 2 indexed, 1 unchanged, 0 deleted, 0 errors"
    after = items_by_key(cf, account, "bucket")
    assert item_log_actions(cf, account, "bucket", items["animals/alpacas.md"].id) == ["index"]  # not read again
    assert item_log_actions(cf, account, "bucket", items["animals/beavers.md"].id) == ["index", "index"]
    assert after["animals/beavers.md"].checksum != items["animals/beavers.md"].checksum

    s3.delete_object(Bucket=bucket, Key="animals/capybaras.md")
    job = cf.aisearch.namespaces.instances.jobs.create("bucket", account_id=account, name="default")
    third = wait_for_job(cf, account, "bucket", job.id)
    assert job_summary(cf, account, "bucket", third.id) == "sync finished: 0 indexed, 2 unchanged, 1 deleted, 0 errors"
    assert item_log_actions(cf, account, "bucket", after["animals/capybaras.md"].id) == ["index", "delete"]
    assert search(cf, account, "bucket", "capybaras springs", retrieval_type="keyword").chunks == []
    assert [c.item.key for c in search(cf, account, "bucket", "lodges mud", retrieval_type="keyword").chunks] \
        == ["animals/beavers.md"]
    assert search(cf, account, "bucket", "dams streams", retrieval_type="keyword").chunks == []


def test_bucket_must_exist_in_the_account(cf, account, s3, server):
    with pytest.raises(cloudflare.BadRequestError) as caught:
        cf.aisearch.namespaces.instances.create("default", account_id=account, id="nowhere", source="no-such-bucket",
                                                type="r2")
    body = caught.value.body
    assert body["success"] is False and "no-such-bucket" in body["errors"][0]["message"]
    # a bucket of another account is not this account's
    other = "acct-" + uuid.uuid4().hex[:8]
    boto3.client("s3", endpoint_url=f"{server.url}/r2/{other}", aws_access_key_id="dev", aws_secret_access_key="dev",
                 region_name="auto").create_bucket(Bucket="theirs")
    with pytest.raises(cloudflare.BadRequestError):
        cf.aisearch.namespaces.instances.create("default", account_id=account, id="theirs", source="theirs")
    with pytest.raises(cloudflare.NotFoundError):
        cf.aisearch.namespaces.instances.read("theirs", account_id=account, name="default")


def test_bucket_item_indexed_by_key(cf, account, s3):
    bucket = "keys-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=bucket)
    cf.aisearch.namespaces.instances.create("default", account_id=account, id="bykey", source=bucket, type="r2")
    wait_for_job(cf, account, "bykey", latest_job(cf, account, "bykey").id)
    s3.put_object(Bucket=bucket, Key="notes/walrus.md", Body=b"Walruses use their tusks to climb onto ice.")
    item = cf.aisearch.namespaces.instances.items.create_or_update(
        "bykey", account_id=account, name="default", key="notes/walrus.md", next_action="INDEX")
    assert item.key == "notes/walrus.md" and item.status == "completed"
    assert [c.item.key for c in search(cf, account, "bykey", "walruses tusks", retrieval_type="keyword").chunks] \
        == ["notes/walrus.md"]
    s3.put_object(Bucket=bucket, Key="big.md", Body=b"a" * (4 * 1024 * 1024 + 1))
    job = cf.aisearch.namespaces.instances.jobs.create("bykey", account_id=account, name="default")
    done = wait_for_job(cf, account, "bykey", job.id)
    summary = job_summary(cf, account, "bykey", done.id)
    assert summary == "sync finished: 0 indexed, 1 unchanged, 0 deleted, 1 errors"
