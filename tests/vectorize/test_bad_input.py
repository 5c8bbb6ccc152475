"""Every validation rule answers 4xx in Cloudflare's envelope with a message a person can act on,
and a rejected write changes nothing."""

from __future__ import annotations

import json

import pytest

from tests.vectorize.helpers import make_vectors, ndjson


@pytest.fixture
def base(http, account):
    base = f"/client/v4/accounts/{account}/vectorize/v2/indexes"
    r = http.post(base, json={"name": "idx", "config": {"dimensions": 3, "metric": "cosine"}})
    assert r.status_code == 201
    return base


def check(response, status=400, code=None, needle=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and body["result"] is None and body["errors"]
    error = body["errors"][0]
    if code is not None:
        assert error["code"] == code, error
    if needle is not None:
        assert needle.lower() in error["message"].lower(), error["message"]


@pytest.mark.parametrize(
    "body, needle",
    [
        ({"config": {"dimensions": 3, "metric": "cosine"}}, "name"),
        ({"name": "Bad Name", "config": {"dimensions": 3, "metric": "cosine"}}, "not valid"),
        ({"name": "-x", "config": {"dimensions": 3, "metric": "cosine"}}, "not valid"),
        ({"name": "x" * 65, "config": {"dimensions": 3, "metric": "cosine"}}, "not valid"),
        ({"name": "ok1", "config": {"dimensions": 0, "metric": "cosine"}}, "dimensions"),
        ({"name": "ok1", "config": {"dimensions": 1537, "metric": "cosine"}}, "dimensions"),
        ({"name": "ok1", "config": {"dimensions": "3", "metric": "cosine"}}, "dimensions"),
        ({"name": "ok1", "config": {"dimensions": 3, "metric": "manhattan"}}, "metric"),
        ({"name": "ok1", "config": {"preset": "@cf/nope"}}, "preset"),
        ({"name": "ok1"}, "config"),
        ({"name": "ok1", "config": {"dimensions": 3, "metric": "cosine"}, "description": 5}, "description"),
    ],
)
def test_create_index_rules(http, account, body, needle):
    check(http.post(f"/client/v4/accounts/{account}/vectorize/v2/indexes", json=body), needle=needle)
    assert http.get(f"/client/v4/accounts/{account}/vectorize/v2/indexes").json()["result"] == []


def test_malformed_json_and_wrong_shapes(http, base):
    check(http.post(base, content=b"{not json", headers={"content-type": "application/json"}), needle="json")
    check(http.post(base, content=b"", headers={"content-type": "application/json"}), needle="empty")
    check(http.post(base, json=[1, 2]), needle="object")
    check(http.post(f"{base}/idx/query", content=b"[", headers={"content-type": "application/json"}))


@pytest.mark.parametrize(
    "lines, needle",
    [
        (['{"id": "a", "values": [1, 2, 3]}', "{broken"], "line 3"),
        (['{"id": "a", "values": [1, 2]}'], "dimensions"),
        (['{"values": [1, 2, 3]}'], "id"),
        (['{"id": 5, "values": [1, 2, 3]}'], "id"),
        (['{"id": "' + "x" * 65 + '", "values": [1, 2, 3]}'], "64 bytes"),
        (['{"id": "a", "values": [1, "2", 3]}'], "not a number"),
        (['{"id": "a", "values": [1, true, 3]}'], "not a number"),
        (['{"id": "a", "values": [1, 1e39, 3]}'], "float32"),
        (['{"id": "a", "values": "1,2,3"}'], "values"),
        (['{"id": "a", "values": [1, 2, 3], "metadata": [1]}'], "metadata"),
        (['{"id": "a", "values": [1, 2, 3], "metadata": {"a.b": 1}}'], "not allowed"),
        (['{"id": "a", "values": [1, 2, 3], "metadata": {"$x": 1}}'], "not allowed"),
        (['{"id": "a", "values": [1, 2, 3], "metadata": {"x": {"": 1}}}'], "not allowed"),
        (['{"id": "a", "values": [1, 2, 3], "metadata": {"big": "' + "x" * 10300 + '"}}'], "10 kib"),
        (['{"id": "a", "values": [1, 2, 3], "namespace": 7}'], "namespace"),
        (['{"id": "a", "values": [1, 2, 3], "namespace": "' + "n" * 65 + '"}'], "namespace"),
        (["[1, 2, 3]"], "line 2"),
    ],
)
def test_vector_rules_reject_whole_batch(http, base, lines, needle):
    body = "\n".join(['{"id": "good", "values": [1, 0, 0]}', *lines])
    check(http.post(f"{base}/idx/upsert", content=body), needle=needle)
    assert http.get(f"{base}/idx/info").json()["result"]["vectorCount"] == 0


def test_empty_body(http, base):
    check(http.post(f"{base}/idx/insert", content=b"\n \n"), needle="no vectors")


def test_batch_limit(http, base):
    body = ndjson([{"id": f"v{i}", "values": [1, 0, 0]} for i in range(5001)])
    check(http.post(f"{base}/idx/insert", content=body), needle="5000")


def test_unparsable_behavior_value(http, base):
    check(http.post(f"{base}/idx/insert?unparsable_behavior=maybe", content=b'{"id":"a","values":[1,2,3]}'))


def test_multipart_without_vectors_part(http, base):
    check(http.post(f"{base}/idx/insert", files={"other": ("x.ndjson", b"{}", "application/x-ndjson")}),
          needle="vectors")


@pytest.mark.parametrize(
    "query, needle",
    [
        ({}, "vector"),
        ({"vector": [1, 2]}, "dimensions"),
        ({"vector": [1, "a", 3]}, "numbers"),
        ({"vector": "1,2,3"}, "vector"),
        ({"vector": [1, 2, 3], "topK": 0}, "topk"),
        ({"vector": [1, 2, 3], "topK": "5"}, "topk"),
        ({"vector": [1, 2, 3], "topK": 101}, "limit is 100"),
        ({"vector": [1, 2, 3], "topK": 51, "returnValues": True}, "limit is 50"),
        ({"vector": [1, 2, 3], "topK": 51, "returnMetadata": "all"}, "limit is 50"),
        ({"vector": [1, 2, 3], "returnMetadata": "some"}, "returnmetadata"),
        ({"vector": [1, 2, 3], "returnValues": "yes"}, "returnvalues"),
        ({"vector": [1, 2, 3], "namespace": 5}, "namespace"),
        ({"vectorId": "missing"}, "not in index"),
        ({"vectorId": 5}, "vectorid"),
        ({"vector": [1, 2, 3], "vectorId": "a"}, "either"),
        ({"vector": [1, 2, 3], "filter": {}}, "empty"),
        ({"vector": [1, 2, 3], "filter": []}, "object"),
        ({"vector": [1, 2, 3], "filter": {"a": {"$regex": "x"}}}, "unsupported operator"),
        ({"vector": [1, 2, 3], "filter": {"a": {"$eq": 1, "$ne": 2}}}, "cannot be combined"),
        ({"vector": [1, 2, 3], "filter": {"a": {"$gt": 1, "$gte": 2}}}, "cannot be combined"),
        ({"vector": [1, 2, 3], "filter": {"a": {"$lt": 1, "$in": [2]}}}, "cannot be combined"),
        ({"vector": [1, 2, 3], "filter": {"a": {"$in": 1}}}, "array"),
        ({"vector": [1, 2, 3], "filter": {"a": {"$in": []}}}, "array"),
        ({"vector": [1, 2, 3], "filter": {"a": {"$in": [[1]]}}}, "array of"),
        ({"vector": [1, 2, 3], "filter": {"a": {"$lt": True}}}, "string or a number"),
        ({"vector": [1, 2, 3], "filter": {"a": {"$eq": [1]}}}, "string, number"),
        ({"vector": [1, 2, 3], "filter": {"a": {}}}, "empty"),
        ({"vector": [1, 2, 3], "filter": {"a": [1, 2]}}, "operator object"),
        ({"vector": [1, 2, 3], "filter": {"$and": [{"a": 1}]}}, "must not start"),
        ({"vector": [1, 2, 3], "filter": {"": 1}}, "empty"),
        ({"vector": [1, 2, 3], "filter": {'a"b': 1}}, "double quote"),
        ({"vector": [1, 2, 3], "filter": {"a..b": 1}}, "empty segment"),
        ({"vector": [1, 2, 3], "filter": {"k" * 513: 1}}, "512"),
        ({"vector": [1, 2, 3], "filter": {f"k{i}": "x" * 100 for i in range(20)}}, "bytes"),
    ],
)
def test_query_rules(http, base, query, needle):
    http.post(f"{base}/idx/insert", content=b'{"id": "a", "values": [1, 2, 3]}').raise_for_status()
    check(http.post(f"{base}/idx/query", json=query), needle=needle)


@pytest.mark.parametrize(
    "path, body, needle",
    [
        ("get_by_ids", {"ids": "a"}, "array"),
        ("get_by_ids", {"ids": []}, "empty"),
        ("get_by_ids", {"ids": [1]}, "array of strings"),
        ("get_by_ids", {"ids": [str(i) for i in range(1001)]}, "1000"),
        ("delete_by_ids", {}, "array"),
        ("metadata_index/create", {"propertyName": "p", "indexType": "date"}, "indextype"),
        ("metadata_index/create", {"propertyName": "", "indexType": "string"}, "propertyname"),
        ("metadata_index/create", {"indexType": "string"}, "propertyname"),
    ],
)
def test_other_endpoint_rules(http, base, path, body, needle):
    check(http.post(f"{base}/idx/{path}", json=body), needle=needle)


def test_metadata_index_type_conflict(http, base):
    http.post(f"{base}/idx/metadata_index/create", json={"propertyName": "p", "indexType": "string"})
    check(http.post(f"{base}/idx/metadata_index/create", json={"propertyName": "p", "indexType": "number"}),
          needle="delete it first")


@pytest.mark.parametrize("params, needle", [({"count": 0}, "count"), ({"count": 1001}, "count"),
                                            ({"count": "x"}, "count"), ({"cursor": "%%%"}, "cursor")])
def test_list_rules(http, base, params, needle):
    check(http.get(f"{base}/idx/list", params=params), needle=needle)


def test_unknown_index_everywhere(http, base):
    for method, path in [("GET", "nope"), ("GET", "nope/info"), ("DELETE", "nope"), ("POST", "nope/query"),
                         ("POST", "nope/insert"), ("POST", "nope/get_by_ids"), ("GET", "nope/list"),
                         ("GET", "nope/metadata_index/list")]:
        kwargs = {"json": {"vector": [1, 2, 3], "ids": ["a"]}} if method == "POST" else {}
        check(http.request(method, f"{base}/{path}", **kwargs), status=404, code=3000)


def test_unknown_route_and_method(http, account):
    check(http.get(f"/client/v4/accounts/{account}/nothing-here"), status=404, code=7003)
    check(http.put(f"/client/v4/accounts/{account}/vectorize/v2/indexes"), status=405)


def test_oversized_body_is_413(server, tmp_path):
    from tests.conftest import Server

    small = Server(tmp_path / "small", env={"KUMO_MAX_BODY_BYTES": "1000"}).start()
    try:
        import httpx

        url = small.url + "/client/v4/accounts/a/vectorize/v2/indexes"
        r = httpx.post(url, content=json.dumps({"name": "x" * 2000}), headers={"authorization": "Bearer t"})
        check(r, status=413)

        def chunks():  # no Content-Length: the limit still holds
            for _ in range(10):
                yield b"x" * 500

        r = httpx.post(url, content=chunks(), headers={"authorization": "Bearer t"})
        check(r, status=413)
    finally:
        small.stop()


def test_failed_write_leaves_nothing(http, base):
    good = make_vectors(10, 3)
    bad = good + [{"id": "z", "values": [1, 2]}]
    check(http.post(f"{base}/idx/insert", content=ndjson(bad)))
    assert http.get(f"{base}/idx/list").json()["result"]["totalCount"] == 0
