"""The guide's boto3 calls, and the rest of the S3 API boto3 users reach for, against `kumo serve`."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.r2.conftest import TOKEN, s3_client


def code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def test_guide_upload_file_download_file(s3, bucket, tmp_path):
    source = tmp_path / "photo.png"
    source.write_bytes(os.urandom(300_000))
    s3.upload_file(str(source), bucket, "images/photo.png", ExtraArgs={"ContentType": "image/png"})
    target = tmp_path / "back.png"
    s3.download_file(bucket, "images/photo.png", str(target))
    assert target.read_bytes() == source.read_bytes()
    head = s3.head_object(Bucket=bucket, Key="images/photo.png")
    assert head["ContentType"] == "image/png"
    assert head["ContentLength"] == 300_000
    assert head["ETag"] == f'"{hashlib.md5(source.read_bytes()).hexdigest()}"'


def test_multipart_40_mib_in_5_mib_parts(s3, bucket, tmp_path):
    from boto3.s3.transfer import TransferConfig

    data = os.urandom(40 * 1024 * 1024)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    mib5 = 5 * 1024 * 1024
    s3.upload_file(str(source), bucket, "big.bin",
                   Config=TransferConfig(multipart_threshold=mib5, multipart_chunksize=mib5, max_concurrency=4))
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    digests = b"".join(hashlib.md5(data[i:i + mib5]).digest() for i in range(0, len(data), mib5))
    assert head["ETag"] == f'"{hashlib.md5(digests).hexdigest()}-8"'
    assert head["ContentLength"] == len(data)
    target = tmp_path / "back.bin"
    s3.download_file(bucket, "big.bin", str(target))
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_multipart_by_hand_list_parts_uploads_abort_and_small_parts(s3, bucket):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="m.bin", ContentType="text/csv",
                                        Metadata={"source": "test"})["UploadId"]
    part1 = s3.upload_part(Bucket=bucket, Key="m.bin", UploadId=upload, PartNumber=1, Body=b"a" * 1024)
    part2 = s3.upload_part(Bucket=bucket, Key="m.bin", UploadId=upload, PartNumber=2, Body=b"b" * 10)
    parts = s3.list_parts(Bucket=bucket, Key="m.bin", UploadId=upload)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, 1024), (2, 10)]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [upload]
    chosen = [{"PartNumber": 1, "ETag": part1["ETag"]}, {"PartNumber": 2, "ETag": part2["ETag"]}]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="m.bin", UploadId=upload, MultipartUpload={"Parts": chosen})
    assert code(exc) == "EntityTooSmall"
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="m.bin", UploadId=upload,
                                     MultipartUpload={"Parts": chosen[::-1]})
    assert code(exc) == "InvalidPartOrder"
    # one part is allowed to be small
    done = s3.complete_multipart_upload(Bucket=bucket, Key="m.bin", UploadId=upload,
                                        MultipartUpload={"Parts": chosen[:1]})
    assert done["ETag"].endswith('-1"')
    obj = s3.get_object(Bucket=bucket, Key="m.bin")
    assert obj["Body"].read() == b"a" * 1024
    assert obj["ContentType"] == "text/csv" and obj["Metadata"] == {"source": "test"}
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

    other = s3.create_multipart_upload(Bucket=bucket, Key="gone.bin")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="gone.bin", UploadId=other, PartNumber=1, Body=b"x")
    s3.abort_multipart_upload(Bucket=bucket, Key="gone.bin", UploadId=other)
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="gone.bin", UploadId=other)
    assert code(exc) == "NoSuchUpload"


def test_presigned_get_and_put_with_plain_httpx(s3, bucket):
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "dir/a b+c.txt"},
                                        ExpiresIn=300)
    assert httpx.put(put_url, content=b"presigned body").status_code == 200
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "dir/a b+c.txt"},
                                        ExpiresIn=300)
    response = httpx.get(get_url)
    assert response.status_code == 200 and response.content == b"presigned body"
    tampered = get_url.replace("a%20b", "a%20c")
    assert httpx.get(tampered).status_code == 403


def test_presigned_url_expires(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=1)
    time.sleep(2.1)
    response = httpx.get(url)
    assert response.status_code == 403
    assert b"<Code>AccessDenied</Code>" in response.content and b"expired" in response.content


def test_ranged_and_conditional_gets(s3, bucket):
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789")
    etag = s3.head_object(Bucket=bucket, Key="r")["ETag"]
    got = s3.get_object(Bucket=bucket, Key="r", Range="bytes=2-5")
    assert got["Body"].read() == b"2345" and got["ContentRange"] == "bytes 2-5/10"
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-3")["Body"].read() == b"789"
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=7-")["Body"].read() == b"789"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-")
    assert code(exc) == "InvalidRange"
    assert s3.get_object(Bucket=bucket, Key="r", IfMatch=etag)["Body"].read() == b"0123456789"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="r", IfMatch='"0000"')
    assert code(exc) == "PreconditionFailed"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="r", IfNoneMatch=etag)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="r", IfModifiedSince=later)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    earlier = datetime.now(timezone.utc) - timedelta(hours=1)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="r", IfUnmodifiedSince=earlier)
    assert code(exc) == "PreconditionFailed"


def test_metadata_headers_copy_and_delete_objects(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"alpha", ContentType="text/plain",
                  ContentDisposition='attachment; filename="a.txt"', ContentEncoding="identity",
                  CacheControl="max-age=60", ContentLanguage="en", Metadata={"owner": "me", "Mixed-Case": "v"})
    head = s3.head_object(Bucket=bucket, Key="a.txt")
    assert head["ContentDisposition"] == 'attachment; filename="a.txt"'
    assert head["CacheControl"] == "max-age=60" and head["ContentEncoding"] == "identity"
    assert head["ContentLanguage"] == "en"
    assert head["Metadata"] == {"owner": "me", "mixed-case": "v"}
    s3.copy_object(Bucket=bucket, Key="b.txt", CopySource={"Bucket": bucket, "Key": "a.txt"})
    copied = s3.get_object(Bucket=bucket, Key="b.txt")
    assert copied["Body"].read() == b"alpha" and copied["Metadata"] == {"owner": "me", "mixed-case": "v"}
    s3.copy_object(Bucket=bucket, Key="c.txt", CopySource=f"{bucket}/a.txt", MetadataDirective="REPLACE",
                   ContentType="application/json", Metadata={"new": "1"})
    replaced = s3.head_object(Bucket=bucket, Key="c.txt")
    assert replaced["ContentType"] == "application/json" and replaced["Metadata"] == {"new": "1"}
    s3.delete_object(Bucket=bucket, Key="a.txt")  # the copies keep their bytes
    assert s3.get_object(Bucket=bucket, Key="b.txt")["Body"].read() == b"alpha"
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "b.txt"}, {"Key": "c.txt"},
                                                                   {"Key": "never-was"}]})
    assert sorted(d["Key"] for d in result["Deleted"]) == ["b.txt", "c.txt", "never-was"]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="b.txt")
    assert code(exc) == "NoSuchKey"


def test_listing_v2_and_v1(s3, bucket):
    keys = ["a/1", "a/2", "a/b/3", "b/1", "c", "d", "e f", "é"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == keys
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["a/", "b/"]
    assert [o["Key"] for o in top["Contents"]] == ["c", "d", "e f", "é"]
    under = s3.list_objects_v2(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in under["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in under["CommonPrefixes"]] == ["a/b/"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, StartAfter="c")["Contents"]] == ["d", "e f", "é"]
    seen, token = [], None
    while True:
        kwargs = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=bucket, MaxKeys=3, Delimiter="/", **kwargs)
        seen += [o["Key"] for o in page.get("Contents", [])] + [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert sorted(seen) == sorted(["a/", "b/", "c", "d", "e f", "é"])
    paginator = s3.get_paginator("list_objects")
    v1 = [o["Key"] for page in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 2})
          for o in page.get("Contents", [])]
    assert v1 == keys


def test_hostile_keys_stay_keys(s3, bucket, r2_server):
    for key in ["../../etc/passwd", "a/../../b", "nul\x00byte", "ctl\x01\x7f", "k" * 1024, "/leading", "trailing/"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"x"
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert code(exc) == "KeyTooLongError"
    blobs = r2_server.data_dir / "r2" / "blobs"
    assert all(len(p.name) == 32 for p in blobs.rglob("*") if p.is_file())
    assert not (r2_server.data_dir.parent / "etc").exists()


def test_checksums_verified_and_mismatch_stores_nothing(s3, bucket):
    from kumo.r2.digests import checksum_of

    for algorithm in ("CRC32", "CRC32C", "SHA1", "SHA256"):
        if algorithm == "CRC32C":  # botocore computes CRC32C only with awscrt: send the value itself
            s3.put_object(Bucket=bucket, Key=f"ok-{algorithm}", Body=b"checked",
                          ChecksumCRC32C=checksum_of("crc32c", b"checked"))
        else:
            s3.put_object(Bucket=bucket, Key=f"ok-{algorithm}", Body=b"checked", ChecksumAlgorithm=algorithm)
        got = s3.get_object(Bucket=bucket, Key=f"ok-{algorithm}", ChecksumMode="ENABLED")
        assert got["Body"].read() == b"checked"
        assert got[f"Checksum{algorithm}"]
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"checked", ChecksumCRC32="AAAAAA==")
    assert code(exc) == "BadDigest"
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"checked", ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg==")
    assert code(exc) == "BadDigest"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="bad")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_buckets_create_list_head_delete(s3, r2_account):
    s3.create_bucket(Bucket="first-bucket")
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket="first-bucket")
    assert code(exc) == "BucketAlreadyOwnedByYou"
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket="Bad_Name")
    assert code(exc) == "InvalidBucketName"
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["first-bucket"]
    s3.head_bucket(Bucket="first-bucket")
    s3.put_object(Bucket="first-bucket", Key="x", Body=b"1")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket="first-bucket")
    assert code(exc) == "BucketNotEmpty"
    s3.delete_object(Bucket="first-bucket", Key="x")
    s3.delete_bucket(Bucket="first-bucket")
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket="first-bucket")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket="first-bucket")
    assert code(exc) == "NoSuchBucket"


def test_wrong_signature_unknown_key_and_limited_token(r2_server, r2_account, bucket, s3):
    import boto3
    from botocore.config import Config

    from kumo.r2.credentials import s3_credentials
    from tests.r2.conftest import LIMITED, LIMITED_ACCOUNT

    key_id, _ = s3_credentials(TOKEN)
    wrong = boto3.client("s3", endpoint_url=f"{r2_server.url}/r2/{r2_account}", aws_access_key_id=key_id,
                         aws_secret_access_key="0" * 64, region_name="auto",
                         config=Config(retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as exc:
        wrong.list_objects_v2(Bucket=bucket)
    assert code(exc) == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as exc:
        wrong.put_object(Bucket=bucket, Key="nope", Body=b"x" * 100_000)
    assert code(exc) == "SignatureDoesNotMatch"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    unknown = s3_client(r2_server.url, r2_account, token="not-a-configured-token")
    with pytest.raises(ClientError) as exc:
        unknown.list_buckets()
    assert code(exc) == "InvalidAccessKeyId"
    limited_elsewhere = s3_client(r2_server.url, r2_account, token=LIMITED)
    with pytest.raises(ClientError) as exc:
        limited_elsewhere.list_objects_v2(Bucket=bucket)
    assert code(exc) == "AccessDenied"
    limited_home = s3_client(r2_server.url, LIMITED_ACCOUNT, token=LIMITED)
    limited_home.list_buckets()  # its own account works
    anonymous = httpx.get(f"{r2_server.url}/r2/{r2_account}/{bucket}")
    assert anonymous.status_code == 403 and b"<Code>AccessDenied</Code>" in anonymous.content


def test_unsupported_features_are_refused_by_name(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="a=b")
    assert code(exc) == "NotImplemented"
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_versioning(Bucket=bucket)
    assert code(exc) == "NotImplemented"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="t")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_conditional_put(s3, bucket):
    s3.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="once", Body=b"second", IfNoneMatch="*")
    assert code(exc) == "PreconditionFailed"
    etag = s3.head_object(Bucket=bucket, Key="once")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="once", Body=b"third", IfMatch='"ffff"')
    assert code(exc) == "PreconditionFailed"
    s3.put_object(Bucket=bucket, Key="once", Body=b"fourth", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"fourth"


def test_multipart_with_part_checksums(s3, bucket):
    import base64

    upload = s3.create_multipart_upload(Bucket=bucket, Key="sums", ChecksumAlgorithm="SHA256")["UploadId"]
    data = os.urandom(5 * 1024 * 1024)
    part = s3.upload_part(Bucket=bucket, Key="sums", UploadId=upload, PartNumber=1, Body=data,
                          ChecksumAlgorithm="SHA256")
    assert part["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="sums", UploadId=upload, PartNumber=2, Body=b"tail",
                       ChecksumSHA256=base64.b64encode(hashlib.sha256(b"other").digest()).decode())
    assert code(exc) == "BadDigest"
    parts = s3.list_parts(Bucket=bucket, Key="sums", UploadId=upload)["Parts"]
    assert [p["PartNumber"] for p in parts] == [1]
    s3.complete_multipart_upload(Bucket=bucket, Key="sums", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"],
                                                             "ChecksumSHA256": part["ChecksumSHA256"]}]})
    assert s3.head_object(Bucket=bucket, Key="sums")["ContentLength"] == len(data)


def test_s3_requests_are_counted_in_metrics(r2_server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="counted", Body=b"1")
    s3.get_object(Bucket=bucket, Key="counted")["Body"].read()
    # with tokens configured, /metrics needs a token not limited to accounts
    text = httpx.get(f"{r2_server.url}/metrics", headers={"authorization": f"Bearer {TOKEN}"}).text
    assert 'product="r2",route="/r2/{account_id}/{bucket}/{key:path}"' in text


def test_read_only_and_bucket_scoped_tokens(r2_server, r2_account, s3):
    from cloudflare import Cloudflare, PermissionDeniedError

    from tests.r2.conftest import ONE_BUCKET, READER

    s3.create_bucket(Bucket="shared-data")
    s3.create_bucket(Bucket="private-data")
    s3.put_object(Bucket="shared-data", Key="a", Body=b"1")
    s3.put_object(Bucket="private-data", Key="b", Body=b"2")
    reader = s3_client(r2_server.url, r2_account, token=READER)
    assert reader.get_object(Bucket="private-data", Key="b")["Body"].read() == b"2"
    for write in (lambda: reader.put_object(Bucket="shared-data", Key="x", Body=b"x"),
                  lambda: reader.delete_object(Bucket="shared-data", Key="a"),
                  lambda: reader.create_bucket(Bucket="new-bucket")):
        with pytest.raises(ClientError) as exc:
            write()
        assert code(exc) == "AccessDenied"
    scoped = s3_client(r2_server.url, r2_account, token=ONE_BUCKET)
    assert [b["Name"] for b in scoped.list_buckets()["Buckets"]] == ["shared-data"]
    scoped.put_object(Bucket="shared-data", Key="c", Body=b"3")
    with pytest.raises(ClientError) as exc:
        scoped.get_object(Bucket="private-data", Key="b")
    assert code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        scoped.copy_object(Bucket="shared-data", Key="stolen", CopySource="private-data/b")
    assert code(exc) == "AccessDenied"
    cf = Cloudflare(api_token=ONE_BUCKET, base_url=f"{r2_server.url}/client/v4", max_retries=0)
    assert [b.name for b in cf.r2.buckets.list(account_id=r2_account).buckets] == ["shared-data"]
    with pytest.raises(PermissionDeniedError):
        cf.r2.buckets.delete("private-data", account_id=r2_account)
    with pytest.raises(PermissionDeniedError):
        Cloudflare(api_token=READER, base_url=f"{r2_server.url}/client/v4",
                   max_retries=0).r2.buckets.create(account_id=r2_account, name="nope-bucket")
