"""Hostile requests to the S3 wire: every one gets S3's XML and a 2xx/3xx/4xx (501 only for features R2 on
kumo refuses by name), never a 500 or a dropped connection."""

from __future__ import annotations

import uuid

import httpx
import pytest

BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;'
                  b'&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'
                  b'&lol2;&lol2;">]><Delete><Object><Key>&lol3;</Key></Object></Delete>')


@pytest.fixture
def base(server):
    account = "hostile-" + uuid.uuid4().hex[:8]
    url = f"{server.url}/r2/{account}"
    assert httpx.put(f"{url}/bkt").status_code == 200
    assert httpx.put(f"{url}/bkt/obj", content=b"0123456789").status_code == 200
    return url


CASES = [
    ("GET", "/bkt/%ff%fe", {}, None),
    ("GET", "/%ff/x", {}, None),
    ("PUT", "/bkt/" + "k" * 5000, {}, b"x"),
    ("GET", "/bkt/%ZZ%", {}, None),
    ("PATCH", "/bkt/obj", {}, b"x"),
    ("OPTIONS", "", {}, None),
    ("POST", "/bkt", {}, b"x"),
    ("GET", "/bkt?list-type=3", {}, None),
    ("GET", "/bkt?list-type=2&max-keys=-1", {}, None),
    ("GET", "/bkt?list-type=2&max-keys=99999999999999999999999", {}, None),
    ("GET", "/bkt?list-type=2&continuation-token=%%%%", {}, None),
    ("GET", "/bkt?list-type=2&continuation-token=AAAA", {}, None),
    ("GET", "/bkt?encoding-type=base64", {}, None),
    ("GET", "/bkt?prefix=%00%01&delimiter=%00", {}, None),
    ("POST", "/bkt?delete", {}, b"<Delete><Object></Object></Delete>"),
    ("POST", "/bkt?delete", {}, b"not xml at all"),
    ("POST", "/bkt?delete", {}, BILLION_LAUGHS),
    ("POST", "/bkt?delete", {}, b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1001 + b"</Delete>"),
    ("POST", "/bkt/obj?uploadId=nope", {}, b"<CompleteMultipartUpload/>"),
    ("PUT", "/bkt/obj?partNumber=abc&uploadId=nope", {}, b"x"),
    ("PUT", "/bkt/obj?partNumber=1", {}, b"x"),
    ("GET", "/bkt/obj?uploadId=nope&max-parts=x", {}, None),
    ("GET", "/bkt/obj", {"range": "bytes=abc"}, None),
    ("GET", "/bkt/obj", {"range": "bytes=5-2"}, None),
    ("GET", "/bkt/obj", {"range": "bytes=99999999999999999999-"}, None),
    ("GET", "/bkt/obj", {"range": "bytes=-0"}, None),
    ("GET", "/bkt/obj", {"if-modified-since": "yesterday", "if-match": ",,,"}, None),
    ("PUT", "/bkt/n", {"x-amz-decoded-content-length": "abc", "content-encoding": "aws-chunked"}, b"x"),
    ("PUT", "/bkt/n", {"x-amz-decoded-content-length": "3", "content-encoding": "aws-chunked"}, b"zz\r\nabc"),
    ("PUT", "/bkt/n", {"x-amz-decoded-content-length": "3", "content-encoding": "aws-chunked"}, b"3\r\nab"),
    ("PUT", "/bkt/n", {"x-amz-checksum-crc32": "!!!"}, b"x"),
    ("PUT", "/bkt/n", {"x-amz-checksum-crc64nvme": "AAAAAAAAAAA="}, b"x"),
    ("PUT", "/bkt/n", {"content-md5": "short"}, b"x"),
    ("PUT", "/bkt/n", {"x-amz-trailer": "x-amz-meta-evil"}, b"x"),
    ("PUT", "/bkt/n", {"x-amz-copy-source": "%ff%fe"}, None),
    ("PUT", "/bkt/n", {"x-amz-copy-source": "/bkt"}, None),
    ("PUT", "/bkt/n", {"x-amz-copy-source": "/bkt/missing"}, None),
    ("PUT", "/bkt/n", {"x-amz-copy-source": "/bkt/obj", "x-amz-metadata-directive": "MERGE"}, None),
    ("PUT", "/bkt/n", {"x-amz-storage-class": "GLACIER"}, b"x"),
    ("PUT", "/bkt/n", {"x-amz-meta-big": "v" * 3000}, b"x"),
    ("PUT", "/bkt/n", {"authorization": "AWS4-HMAC-SHA256 garbage"}, b"x"),
    ("PUT", "/bkt/n", {"authorization": "Basic abc"}, b"x"),
    ("GET", "/bkt/obj?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=zz", {}, None),
    ("PUT", "/Bad_Bucket", {}, None),
    ("PUT", "/bkt", {}, b"<CreateBucketConfiguration><LocationConstraint>mars</LocationConstraint>"
                        b"</CreateBucketConfiguration>"),
    ("DELETE", "/bkt/obj?uploadId=nope", {}, None),
    ("GET", "/bkt?uploads&delimiter=/", {}, None),
    ("PUT", "/bkt/obj?tagging", {}, b"x"),
]


@pytest.mark.parametrize("method,path,headers,body", CASES)
def test_hostile_request_gets_an_s3_answer(base, method, path, headers, body):
    response = httpx.request(method, base + path, headers=headers, content=body, timeout=30)
    assert response.status_code < 500 or response.status_code == 501, response.text
    if response.status_code >= 400 and method != "HEAD":
        assert response.content.startswith(b"<?xml") and b"<Code>" in response.content
    assert httpx.get(f"{base}/bkt/obj").content == b"0123456789"  # nothing half-applied to what was there
