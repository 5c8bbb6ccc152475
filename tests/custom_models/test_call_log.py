"""The call log and `compare` (SQLite and PostgreSQL), micro-batched one-row calls under concurrency, and
promotion and rollback under traffic: all over real HTTP against `kumo serve`."""

from __future__ import annotations

import pathlib
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from click.testing import CliRunner

from kumo.cli import main
from tests.custom_models.conftest import TOKEN


def _upload(s3, bucket, key, path):
    s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())


def _register(api, name, version, source):
    made = api.post(f"/custom-models/{name}/versions", json={"version": version, "source": source})
    assert made.status_code == 201, made.text


@pytest.fixture
def two_versions(api, s3, bucket, model_files, churn_data):
    """@custom/churn: v1 the forest (served), v2 a logistic regression (both skops, named features)."""
    from sklearn.linear_model import LogisticRegression
    import skops.io as sio

    x, y = churn_data
    other = LogisticRegression(max_iter=500).fit(x, y)
    path = pathlib.Path(tempfile.mkdtemp()) / "lr.skops"
    sio.dump(other, path)
    _upload(s3, bucket, "churn/v1.skops", model_files / "model.skops")
    _upload(s3, bucket, "churn/v2.skops", path)
    _register(api, "churn", "v1", f"r2://{bucket}/churn/v1.skops")
    _register(api, "churn", "v2", f"r2://{bucket}/churn/v2.skops")
    return other


def test_calls_are_logged_with_hashed_callers_and_versions_compare(api, two_versions, forest, churn_data, cm_server,
                                                                   account):
    x, _ = churn_data
    assert api.put("/custom-models/churn/shadow", json={"version": "v2"}).status_code == 200
    for n in range(30):
        r = api.post("/run/@custom/churn", json={"features": x.iloc[n].tolist()},
                     headers={"x-kumo-caller-key": f"alice-{n % 3}@example.com"})
        assert r.status_code == 200
    assert api.post("/run/@custom/churn", json={"features": [1.0]}).status_code == 400  # refused, logged too
    assert api.post("/run/@custom/churn", json={"instances": x.iloc[:5].values.tolist()}).status_code == 200

    page = api.get("/custom-models/churn/calls", params={"role": "served", "per_page": 10})
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["result_info"] == {"page": 1, "per_page": 10, "count": 10, "total_count": 32}
    newest = body["result"][0]
    assert newest["version"] == "v1" and newest["rows"] == 5 and newest["outcome"] == "ok"
    assert newest["prediction"] == forest.predict(x.iloc[:5]).tolist()
    assert "example.com" not in page.text and "alice" not in page.text  # caller keys are kept only as hashes
    last = api.get("/custom-models/churn/calls", params={"role": "served", "per_page": 10, "page": 4}).json()
    assert last["result_info"]["count"] == 2
    assert last["result"][-1]["prediction"] == forest.predict(x.iloc[:1])[0]

    refused = api.get("/custom-models/churn/calls", params={"outcome": "refused", "role": "served"}).json()
    assert refused["result_info"]["total_count"] == 1 and "features given" in refused["result"][0]["error"]
    alice = api.get("/custom-models/churn/calls", params={"caller_key": "alice-1@example.com", "role": "served"})
    assert alice.json()["result_info"]["total_count"] == 10
    assert len({c["caller_hash"] for c in alice.json()["result"]}) == 1
    deadline = time.monotonic() + 10  # the shadow answers after the caller has its answer
    while True:
        shadow = api.get("/custom-models/churn/calls", params={"role": "shadow", "outcome": "ok", "per_page": 100})
        shadowed = shadow.json()["result"]
        if len(shadowed) >= 31 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(shadowed) == 31 and all(c["served_version"] == "v1" for c in shadowed)  # every answered call

    rows = x.iloc[:30]
    expected = (sum(a == b for a, b in zip(forest.predict(rows), two_versions.predict(rows)))
                + sum(a == b for a, b in zip(forest.predict(x.iloc[:5]), two_versions.predict(x.iloc[:5]))))
    compared = api.get("/custom-models/churn/compare", params={"a": "v1", "b": "v2", "since": "1h"}).json()["result"]
    assert compared["agreement"]["rows"] == 35 and compared["agreement"]["agreed"] == expected
    v1, v2 = compared["versions"]["v1"], compared["versions"]["v2"]
    assert (v1["calls"], v1["served_calls"], v1["refused"]) == (32, 32, 1)
    assert v1["error_rate"] == pytest.approx(1 / 32)
    assert (v2["served_calls"], v2["shadow_calls"]) == (0, 31)
    assert 0 < v1["p50_latency_ms"] <= v1["p99_latency_ms"]
    future = api.get("/custom-models/churn/compare", params={"a": "v1", "b": "v2", "since": "2999-01-01T00:00:00Z"})
    assert future.json()["result"]["versions"]["v1"]["calls"] == 0

    c = ["--url", cm_server.url, "--token", TOKEN, "--account", account]
    out = CliRunner().invoke(main, ["models", "compare", "@custom/churn", "v1", "v2", "--since", "24h", *c])
    assert out.exit_code == 0, out.output
    assert f"{expected / 35:.2%} of 35 rows" in out.output and "3.12%" in out.output

    for bad in ({"a": "v1"}, {"a": "v1", "b": "v1"}, {"a": "v1", "b": "v2", "since": "yesterday"},
                {"a": "v1", "b": "v2", "window": "1h"}):
        assert api.get("/custom-models/churn/compare", params=bad).status_code == 400, bad
    assert api.get("/custom-models/churn/compare", params={"a": "v1", "b": "v9"}).status_code == 404
    for bad in ({"role": "boss"}, {"outcome": "fine"}, {"per_page": 0}, {"page": "x"}, {"limit": 3},
                {"until": "soon"}):
        assert api.get("/custom-models/churn/calls", params=bad).status_code == 400, bad
    assert api.get("/custom-models/nobody/calls").status_code == 404


def test_concurrent_one_row_calls_share_predicts_and_each_gets_its_own_answer(api, two_versions, forest, churn_data,
                                                                             cm_server):
    x, _ = churn_data
    expected = forest.predict_proba(x.iloc[:200])

    def call(n: int):
        r = api.post("/run/@custom/churn", json={"features": dict(zip(x.columns, x.iloc[n].tolist()))})
        assert r.status_code == 200, r.text
        return n, r.json()["result"]["probability"]

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(call, range(200)))
    for n, probability in answers:  # a batch hands every caller its own row's answer
        assert probability == pytest.approx(expected[n].tolist())
    metrics = httpx.get(f"{cm_server.url}/metrics", headers={"authorization": f"Bearer {TOKEN}"}).text
    counts = {line.split("{")[1].split('"')[1]: float(line.rsplit(" ", 1)[1])
              for line in metrics.splitlines() if line.startswith("kumo_custom_model_batch_rows_bucket")}
    assert counts["+Inf"] > counts["1.0"], "no predict ever took more than one call's row"


def test_promote_and_rollback_under_traffic_fail_no_request(api, two_versions, churn_data):
    x, _ = churn_data
    row = x.iloc[0].tolist()
    stop = threading.Event()
    seen: list[tuple[int, str]] = []

    def traffic():
        with httpx.Client(base_url=api.base_url, headers=api.headers, timeout=30) as client:
            while not stop.is_set():
                r = client.post("/run/@custom/churn", json={"features": row})
                seen.append((r.status_code, r.json()["result"]["model_version"] if r.status_code == 200 else r.text))

    threads = [threading.Thread(target=traffic) for _ in range(6)]
    for t in threads:
        t.start()
    try:
        cycles, deadline = 0, time.monotonic() + 60
        while cycles < 8 or (len(seen) < 200 and time.monotonic() < deadline):  # traffic all along, however slow
            cycles += 1
            assert api.post("/custom-models/churn/promote", json={"version": "v2"}).status_code == 200
            assert api.post("/run/@custom/churn", json={"features": row}).json()["result"]["model_version"] == "v2"
            assert api.post("/custom-models/churn/rollback").status_code == 200
            assert api.post("/run/@custom/churn", json={"features": row}).json()["result"]["model_version"] == "v1"
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert len(seen) >= 200
    failed = [s for s in seen if s[0] != 200]
    assert not failed, failed[:3]
    assert {v for _, v in seen} == {"v1", "v2"}


def test_ten_thousand_calls_on_a_90_10_split_land_within_2_percent_and_stick(api, two_versions, cm_server):
    if "postgres" in str(cm_server.data_dir):
        pytest.skip("the split is chosen in the node, whatever the store: once (SQLite) is enough")
    assert api.put("/custom-models/churn/split", json={"weights": {"v1": 90, "v2": 10}}).status_code == 200
    local = threading.local()

    def call(n: int) -> str:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=api.base_url, headers=api.headers, timeout=60)
        r = local.client.post("/run/@custom/churn", json={"features": [20.0, 70.0, 3.0, 40.0]},
                              headers={"x-kumo-caller-key": f"user-{n}"})
        assert r.status_code == 200, r.text
        assert r.headers["x-kumo-model-version"] == r.json()["result"]["model_version"]
        return r.json()["result"]["model_version"]

    with ThreadPoolExecutor(16) as pool:
        chosen = list(pool.map(call, range(10_000)))
        again = list(pool.map(call, range(0, 10_000, 20)))
    assert abs(chosen.count("v2") / 10_000 - 0.10) <= 0.02, chosen.count("v2")
    assert again == chosen[::20]  # the same callers, the same versions
    assert np.unique(chosen).tolist() == ["v1", "v2"]


def test_hostile_query_values_get_an_answer_never_a_500(api, two_versions):
    hostile = ["\x00", "a" * 5000, "\ud83d".encode("utf-8", "surrogatepass").decode("latin-1"), "999999999d",
               "0001-01-01T00:00:00", "9999-12-31T23:59:59-14:00", "1" * 400, "²"]
    for value in hostile:
        for params in ({"version": value}, {"caller_key": value}, {"since": value}, {"until": value},
                       {"page": value}, {"per_page": value}):
            r = api.get("/custom-models/churn/calls", params=params)
            assert r.status_code in (200, 400), (params, r.status_code, r.text[:200])
            assert r.json()["success"] is (r.status_code == 200)
        for params in ({"a": value, "b": "v2"}, {"a": "v1", "b": "v2", "since": value}):
            r = api.get("/custom-models/churn/compare", params=params)
            assert r.status_code in (200, 400, 404), (params, r.status_code, r.text[:200])
