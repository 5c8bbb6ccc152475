"""`query` and `get_by_ids` are served by kumo.vectorize.front, in front of FastAPI: the same credentials,
account isolation, body rules, envelope and error codes as every other route, over real HTTP."""

from __future__ import annotations

import threading

import httpx
import numpy as np
import pytest

from tests.conftest import Server
from tests.vectorize.helpers import make_vectors, ndjson, oracle


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("front-auth") / "data",
                 env={"KUMO_API_TOKENS": "admin-token,team-token:team1"}).start()
    with httpx.Client(base_url=srv.url, headers={"authorization": "Bearer admin-token"}) as admin:
        for account in ("team1", "other"):
            base = f"/client/v4/accounts/{account}/vectorize/v2/indexes"
            assert admin.post(base, json={"name": "idx", "config": {"dimensions": 3, "metric": "cosine"}}
                              ).status_code == 201
            assert admin.post(f"{base}/idx/insert", content=ndjson([{"id": "a", "values": [1, 0, 0]}])
                              ).status_code == 200
    yield srv
    srv.stop()


def _failure(response: httpx.Response, status: int, code: int, final: bool = True) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"result", "success", "errors", "messages"}
    assert body["result"] is None and body["success"] is False and body["messages"] == []
    assert len(body["errors"]) == 1 and body["errors"][0]["code"] == code
    if final:  # a service error: the SDK is told not to retry
        assert response.headers["x-should-retry"] == "false"
    return body["errors"][0]["message"]


@pytest.mark.parametrize("operation, body", [("query", {"vector": [1, 0, 0], "topK": 1}),
                                             ("get_by_ids", {"ids": ["a"]})])
def test_credentials_and_accounts(guarded, operation, body):
    def post(account: str, headers: dict) -> httpx.Response:
        return httpx.post(f"{guarded.url}/client/v4/accounts/{account}/vectorize/v2/indexes/idx/{operation}",
                          json=body, headers=headers)

    _failure(post("team1", {}), 401, 9106)
    _failure(post("team1", {"authorization": "Bearer wrong"}), 401, 10000)
    _failure(post("team1", {"authorization": "Basic Zm9vOmJhcg=="}), 401, 10000)
    _failure(post("team1", {"x-auth-key": "team-token"}), 401, 9106)  # a key needs its email
    assert "not allowed to access account other" in _failure(
        post("other", {"authorization": "Bearer team-token"}), 403, 10000)
    for account, headers in (("team1", {"authorization": "Bearer team-token"}),
                             ("other", {"x-auth-email": "me@example.com", "x-auth-key": "admin-token"})):
        r = post(account, headers)
        assert r.status_code == 200 and r.json()["success"] is True and r.json()["errors"] == []
        result = r.json()["result"]
        found = result["matches"] if operation == "query" else result
        assert [m["id"] for m in found] == ["a"]


@pytest.fixture
def index(http, account):
    base = f"/client/v4/accounts/{account}/vectorize/v2/indexes"
    assert http.post(base, json={"name": "idx", "config": {"dimensions": 3, "metric": "cosine"}}).status_code == 201
    vectors = [{"id": "a", "values": [1, 0, 0], "metadata": {"k": "x"}}, {"id": "b", "values": [0, 1, 0]}]
    assert http.post(f"{base}/idx/insert", content=ndjson(vectors)).status_code == 200
    return f"{base}/idx"


@pytest.mark.parametrize("raw, status, code, needle", [
    (b"", 400, 10001, "empty"),
    (b"  \n", 400, 10001, "empty"),
    (b"{not json", 400, 10001, "not valid json"),
    (b"\xff\xfe{", 400, 10001, "not valid json"),
    (b"[1, 2]", 400, 10001, "got list"),
    (b'"text"', 400, 10001, "got str"),
    (b"null", 400, 10001, "got nonetype"),
    (b"[" * 100_000, 400, 10001, "not valid json"),
    (b'{"vector": [NaN, 0, 0]}', 400, 10001, "not valid json"),  # NaN is not JSON (kumo.api.body, README "Input rules")
    (b'{"vector": [1, 0]}', 400, 40008, "dimensions"),
    (b'{"vector": [1, true, 0]}', 400, 40008, "only numbers"),
    (b'{"vector": [1, 0, 0], "topK": 0}', 400, 40008, "topk"),
    (b'{"vector": [1, 0, 0], "filter": {"$and": 1}}', 400, 40009, "$and"),
    (b'{"vector": [1, 0, 0], "vectorId": "a"}', 400, 40008, "not both"),
    (b"{}", 400, 40008, "vector"),
])
def test_query_body_rules(http, index, raw, status, code, needle):
    message = _failure(http.post(f"{index}/query", content=raw, headers={"content-type": "application/json"}),
                       status, code)
    assert needle in message.lower()


def test_get_by_ids_rules_and_unknown_index(http, index, account):
    assert "ids" in _failure(http.post(f"{index}/get_by_ids", json={"ids": "a"}), 400, 40008)
    assert "must not be empty" in _failure(http.post(f"{index}/get_by_ids", json={"ids": []}), 400, 40008)
    assert "1000" in _failure(http.post(f"{index}/get_by_ids", json={"ids": ["x"] * 1001}), 400, 40008)
    base = f"/client/v4/accounts/{account}/vectorize/v2/indexes"
    for op, body in (("query", {"vector": [1, 0, 0]}), ("get_by_ids", {"ids": ["a"]})):
        assert 'Index name "nope" not found' in _failure(http.post(f"{base}/nope/{op}", json=body), 404, 3000)


def test_answers_and_the_rest_of_the_routes(http, index):
    r = http.post(f"{index}/query/", json={"vector": [1, 0.1, 0], "topK": 2, "returnMetadata": "all",
                                          "returnValues": True})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == {"result": {"count": 2, "matches": [
        {"id": "a", "score": pytest.approx(0.99503719), "values": [1.0, 0.0, 0.0], "metadata": {"k": "x"}},
        {"id": "b", "score": pytest.approx(0.09950372), "values": [0.0, 1.0, 0.0], "metadata": {}}]},
        "success": True, "errors": [], "messages": []}
    by_vector_id = http.post(f"{index}/query", json={"vectorId": "b", "topK": 1}).json()["result"]
    assert by_vector_id["matches"][0]["id"] == "b"
    got = http.post(f"{index}/get_by_ids", json={"ids": ["b", "zz", "a"]}).json()["result"]
    assert [v["id"] for v in got] == ["b", "a"] and got[1]["metadata"] == {"k": "x"}
    # other methods and paths still go to FastAPI
    assert _failure(http.get(f"{index}/query"), 405, 7001, final=False)
    assert _failure(http.post(f"{index}/query/extra", json={}), 404, 7003, final=False)
    assert http.get(f"{index}/info").json()["result"]["vectorCount"] == 2
    metrics = http.get("/metrics").text
    assert 'route="/client/v4/accounts/{account_id}/vectorize/v2/indexes/{index_name}/query"' in metrics


def test_concurrent_queries_beside_writes(http, account):
    """Eight clients query while another writes: every answer is the exact top-K of what was there."""
    base = f"/client/v4/accounts/{account}/vectorize/v2/indexes"
    assert http.post(base, json={"name": "conc", "config": {"dimensions": 8, "metric": "euclidean"}}).status_code == 201
    vectors = make_vectors(400, 8, seed=3)
    assert http.post(f"{base}/conc/insert", content=ndjson(vectors[:200])).status_code == 200
    errors: list = []

    def reader(seed: int) -> None:
        rng = np.random.default_rng(seed)
        with httpx.Client(base_url=str(http.base_url), headers=dict(http.headers), timeout=60) as c:
            for _ in range(15):
                q = rng.normal(size=8).tolist()
                r = c.post(f"{base}/conc/query", json={"vector": q, "topK": 5})
                if r.status_code != 200:
                    errors.append(r.text)
                    continue
                got = [m["id"] for m in r.json()["result"]["matches"]]
                # writes land whole: the answer is the exact top-5 of the first 200, 250, ... 400 vectors
                if not any(got == [i for i, _ in oracle(vectors[:n], q, "euclidean", 5)] for n in range(200, 401, 50)):
                    errors.append(got)

    threads = [threading.Thread(target=reader, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for start in range(200, 400, 50):
        assert http.post(f"{base}/conc/insert", content=ndjson(vectors[start : start + 50])).status_code == 200
    for t in threads:
        t.join()
    assert not errors
    q = [0.5] * 8
    got = http.post(f"{base}/conc/query", json={"vector": q, "topK": 5}).json()["result"]["matches"]
    assert [(m["id"], pytest.approx(m["score"])) for m in got] == [
        (i, pytest.approx(s)) for i, s in oracle(vectors, q, "euclidean", 5)]
