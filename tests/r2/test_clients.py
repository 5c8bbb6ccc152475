"""The other clients R2 users point at kumo: the `aws s3` CLI, pandas through s3fs, the cloudflare SDK for
buckets, and aws-chunked uploads with a trailing checksum as botocore builds them (over TLS, its default)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid

import httpx
import pytest

from kumo.r2.credentials import s3_credentials
from tests.r2.conftest import TOKEN, s3_client


def aws(r2_server, account: str, *args: str, cwd=None) -> str:
    key_id, secret = s3_credentials(TOKEN)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
           "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": "auto",
           "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}
    done = subprocess.run([sys.executable, "-m", "awscli", "--endpoint-url", f"{r2_server.url}/r2/{account}",
                           *args], env=env, capture_output=True, text=True, timeout=120, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_aws_cli_cp_ls_sync_rm(r2_server, r2_account, s3, bucket, tmp_path):
    source = tmp_path / "report.csv"
    source.write_text("a,b\n1,2\n")
    aws(r2_server, r2_account, "s3", "cp", str(source), f"s3://{bucket}/reports/report.csv")
    assert "report.csv" in aws(r2_server, r2_account, "s3", "ls", f"s3://{bucket}/reports/")
    folder = tmp_path / "site"
    (folder / "css").mkdir(parents=True)
    (folder / "index.html").write_text("<h1>hi</h1>")
    (folder / "css" / "main.css").write_text("body{}")
    (folder / "big.bin").write_bytes(os.urandom(9 * 1024 * 1024))  # over the CLI's multipart threshold
    aws(r2_server, r2_account, "s3", "sync", str(folder), f"s3://{bucket}/site")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="site/")["Contents"])
    assert keys == ["site/big.bin", "site/css/main.css", "site/index.html"]
    assert aws(r2_server, r2_account, "s3", "sync", str(folder), f"s3://{bucket}/site").strip() == ""  # up to date
    back = tmp_path / "back"
    aws(r2_server, r2_account, "s3", "sync", f"s3://{bucket}/site", str(back))
    assert (back / "big.bin").read_bytes() == (folder / "big.bin").read_bytes()
    aws(r2_server, r2_account, "s3", "rm", "--recursive", f"s3://{bucket}/site")
    aws(r2_server, r2_account, "s3", "rm", f"s3://{bucket}/reports/report.csv")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_pandas_parquet_through_s3fs(r2_server, r2_account, bucket):
    pd = pytest.importorskip("pandas")
    key_id, secret = s3_credentials(TOKEN)
    options = {"key": key_id, "secret": secret, "client_kwargs": {"region_name": "auto"},
               "endpoint_url": f"{r2_server.url}/r2/{r2_account}"}
    frame = pd.DataFrame({"city": ["Kyoto", "Osaka", "Nara"], "rain_mm": [1.5, 0.0, 3.25]})
    frame.to_parquet(f"s3://{bucket}/silver/weather.parquet", storage_options=options)
    back = pd.read_parquet(f"s3://{bucket}/silver/weather.parquet", storage_options=options)
    assert back.equals(frame)


def test_cloudflare_sdk_buckets_share_state_with_s3(r2_server, r2_account):
    from cloudflare import Cloudflare

    cf = Cloudflare(api_token=TOKEN, base_url=f"{r2_server.url}/client/v4", max_retries=0)
    created = cf.r2.buckets.create(account_id=r2_account, name="lake-bronze", location_hint="weur",
                                   storage_class="InfrequentAccess")
    assert created.name == "lake-bronze" and created.location == "weur"
    assert created.storage_class == "InfrequentAccess"
    cf.r2.buckets.create(account_id=r2_account, name="lake-silver")
    listed = cf.r2.buckets.list(account_id=r2_account)
    assert [b.name for b in listed.buckets] == ["lake-bronze", "lake-silver"]
    assert cf.r2.buckets.get("lake-silver", account_id=r2_account).name == "lake-silver"
    s3 = s3_client(r2_server.url, r2_account)
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["lake-bronze", "lake-silver"]
    s3.put_object(Bucket="lake-silver", Key="x", Body=b"1")
    import cloudflare

    with pytest.raises(cloudflare.APIStatusError) as exc:
        cf.r2.buckets.delete("lake-silver", account_id=r2_account)
    assert exc.value.status_code == 409
    s3.delete_object(Bucket="lake-silver", Key="x")
    cf.r2.buckets.delete("lake-silver", account_id=r2_account)
    with pytest.raises(cloudflare.NotFoundError):
        cf.r2.buckets.get("lake-silver", account_id=r2_account)
    with pytest.raises(cloudflare.BadRequestError):
        cf.r2.buckets.create(account_id=r2_account, name="UPPER")


def _chunked_put(r2_server, account: str, bucket: str, key: str, data: bytes, tamper: bool = False):
    """A PutObject as botocore sends it over TLS: aws-chunked body, CRC32 in a trailer, unsigned payload."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

    body = AwsChunkedWrapper(io.BytesIO(data), checksum_cls=Crc32Checksum, checksum_name="x-amz-checksum-crc32",
                             chunk_size=64 * 1024).read()
    if tamper:
        at = body.index(b"x-amz-checksum-crc32:") + len(b"x-amz-checksum-crc32:")
        body = body[:at] + b"AAAAAA==" + body[at + 8:]  # a CRC32 is 8 characters of base64
    request = AWSRequest("PUT", f"{r2_server.url}/r2/{account}/{bucket}/{key}", data=body, headers={
        "Content-Encoding": "aws-chunked", "X-Amz-Trailer": "x-amz-checksum-crc32",
        "X-Amz-Decoded-Content-Length": str(len(data)), "Content-Type": "application/octet-stream"})
    request.context["checksum"] = {"request_algorithm": {"in": "trailer", "algorithm": "crc32",
                                                         "name": "x-amz-checksum-crc32"}}
    key_id, secret = s3_credentials(TOKEN)
    S3SigV4Auth(Credentials(key_id, secret), "s3", "auto").add_auth(request)
    assert request.headers["X-Amz-Content-SHA256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    return httpx.put(request.url, content=body, headers=dict(request.headers.items()))


def test_aws_chunked_with_trailing_checksum(r2_server, r2_account, s3, bucket):
    data = os.urandom(200_000)
    response = _chunked_put(r2_server, r2_account, bucket, "chunked.bin", data)
    assert response.status_code == 200, response.text
    got = s3.get_object(Bucket=bucket, Key="chunked.bin", ChecksumMode="ENABLED")
    assert got["Body"].read() == data and got["ChecksumCRC32"]
    assert got.get("ContentEncoding") is None  # aws-chunked is how it travelled, not what it is
    bad = _chunked_put(r2_server, r2_account, bucket, "bad.bin", data, tamper=True)
    assert bad.status_code == 400 and b"<Code>BadDigest</Code>" in bad.content
    assert "bad.bin" not in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]


def test_dev_mode_accepts_any_credentials(server):
    """No tokens configured (loopback dev mode): any key pair works, as the README says."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=f"{server.url}/r2/dev-{uuid.uuid4().hex[:8]}", aws_access_key_id="any",
                      aws_secret_access_key="thing", region_name="auto")
    s3.create_bucket(Bucket="dev-bucket")
    s3.put_object(Bucket="dev-bucket", Key="k", Body=b"v")
    assert s3.get_object(Bucket="dev-bucket", Key="k")["Body"].read() == b"v"


def _signed_chunked_body(data: bytes, key: bytes, seed: str, amz_date: str, scope: str, chunk: int,
                         tamper_at: int | None = None) -> bytes:
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD as AWS documents it (the Java and Go SDKs send it): every chunk
    signed, chained from the request's signature."""
    import hashlib
    import hmac

    empty = hashlib.sha256(b"").hexdigest()
    previous, out = seed, b""
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]
    for index, piece in enumerate(pieces):
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, empty,
                             hashlib.sha256(piece).hexdigest()])
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        sent = piece if index != tamper_at else bytes(len(piece))
        out += f"{len(piece):x};chunk-signature={signature}\r\n".encode() + sent + b"\r\n"
        previous = signature
    return out


def test_aws_chunked_with_chunk_signatures(r2_server, r2_account, s3, bucket):
    import hashlib
    import hmac

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    key_id, secret = s3_credentials(TOKEN)
    data = os.urandom(150_000)
    for key, tamper in (("signed.bin", None), ("tampered.bin", 1)):
        url = f"{r2_server.url}/r2/{r2_account}/{bucket}/{key}"
        request = AWSRequest("PUT", url, headers={
            "Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": str(len(data)),
            "X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"})
        # the plain SigV4 signer signs the x-amz-content-sha256 it is given (the S3 one would replace it)
        SigV4Auth(Credentials(key_id, secret), "s3", "auto").add_auth(request)
        amz_date = request.headers["X-Amz-Date"]
        seed = request.headers["Authorization"].rsplit("Signature=", 1)[1]
        signing = ("AWS4" + secret).encode()
        for part in (amz_date[:8], "auto", "s3", "aws4_request"):
            signing = hmac.new(signing, part.encode(), hashlib.sha256).digest()
        body = _signed_chunked_body(data, signing, seed, amz_date, f"{amz_date[:8]}/auto/s3/aws4_request",
                                    64 * 1024, tamper)
        response = httpx.put(url, content=body, headers=dict(request.headers.items()))
        if tamper is None:
            assert response.status_code == 200, response.text
            assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data
        else:
            assert response.status_code == 403 and b"SignatureDoesNotMatch" in response.content
            assert key not in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
