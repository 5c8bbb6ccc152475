"""`kumo.Env().R2(...)`: the Workers binding's shape, in process, on the same data the S3 wire serves."""

from __future__ import annotations

import io

import pytest

import kumo.env


@pytest.fixture
def env(tmp_path):
    with kumo.env.Env(data_dir=tmp_path / "data") as env:
        yield env


def test_put_get_head_list_delete(env):
    bucket = env.R2("lake", create=True)
    put = bucket.put("bronze/2026/a.json", '{"x": 1}', {"httpMetadata": {"contentType": "application/json"},
                                                         "customMetadata": {"source": "sensor-7"}})
    assert put.key == "bronze/2026/a.json" and put.size == 8
    assert put.httpEtag == f'"{put.etag}"' and put.checksums["md5"] == put.etag
    got = bucket.get("bronze/2026/a.json")
    assert got.json() == {"x": 1}
    assert got.httpMetadata == {"contentType": "application/json"}
    assert got.customMetadata == {"source": "sensor-7"}
    assert got.uploaded.tzinfo is not None
    part = bucket.get("bronze/2026/a.json", {"range": {"offset": 1, "length": 4}})
    assert part.text() == '"x":' and part.range == {"offset": 1, "length": 4}
    assert bucket.get("bronze/2026/a.json", {"range": {"suffix": 2}}).text() == "1}"
    assert bucket.head("missing") is None and bucket.get("missing") is None
    # onlyIf: a failed condition on get gives the object without a body; on put, None
    unchanged = bucket.get("bronze/2026/a.json", {"onlyIf": {"etagDoesNotMatch": put.etag}})
    assert unchanged is not None and not hasattr(unchanged, "text")
    assert bucket.put("bronze/2026/a.json", "new", {"onlyIf": {"etagMatches": "nope"}}) is None
    bucket.put("bronze/2026/b.bin", io.BytesIO(b"\x00" * 3_000_000))  # a file object streams in
    bucket.put("silver/c.parquet", [b"PAR1", b"...", b"PAR1"])
    top = bucket.list({"delimiter": "/"})
    assert top["delimitedPrefixes"] == ["bronze/", "silver/"] and top["objects"] == []
    first = bucket.list({"prefix": "bronze/", "limit": 1, "include": ["customMetadata"]})
    assert [o.key for o in first["objects"]] == ["bronze/2026/a.json"] and first["truncated"]
    assert first["objects"][0].customMetadata == {"source": "sensor-7"}
    rest = bucket.list({"prefix": "bronze/", "cursor": first["cursor"]})
    assert [o.key for o in rest["objects"]] == ["bronze/2026/b.bin"] and not rest["truncated"]
    assert sum(len(c) for c in bucket.get("bronze/2026/b.bin").body) == 3_000_000
    bucket.delete(["bronze/2026/a.json", "bronze/2026/b.bin"])
    assert [o.key for o in bucket.list()["objects"]] == ["silver/c.parquet"]


def test_checksums_and_unknown_options(env):
    import hashlib

    from kumo.r2 import errors

    bucket = env.R2("checked", create=True)
    bucket.put("ok", b"abc", {"sha256": hashlib.sha256(b"abc").hexdigest()})
    with pytest.raises(errors.BadDigest):
        bucket.put("bad", b"abc", {"sha256": hashlib.sha256(b"abd").hexdigest()})
    assert bucket.head("bad") is None
    with pytest.raises(errors.InvalidArgument):
        bucket.put("x", b"1", {"ttl": 5})
    with pytest.raises(errors.NoSuchBucket):
        env.R2("never-made").put("x", b"1")


def test_other_products_read_objects_through_the_service(env, tmp_path):
    """What custom models and AI Search use: the service, streaming, and a local copy made atomically."""
    import os

    weights = os.urandom(3 * 1024 * 1024 + 17)
    env.R2("models", create=True).put("resnet/v3.onnx", weights)
    target = tmp_path / "v3.onnx"
    info = env._loop.call(env.r2.download_to(env.account_id, "models", "resnet/v3.onnx", target))
    assert target.read_bytes() == weights and info.size == len(weights)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []
    assert env._loop.call(env.r2.read_bytes(env.account_id, "models", "resnet/v3.onnx")) == weights
