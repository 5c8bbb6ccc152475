"""Custom models end to end: a RandomForest trained here, uploaded to kumo's R2 with boto3 exactly as the guide
does, registered over kumo's v4 API, and predicted with through the cloudflare SDK's `ai.run`."""

from __future__ import annotations

import numpy as np
import pytest

from tests.custom_models.conftest import FEATURES, ONE_BUCKET, PLAIN, TOKEN

GUIDE_KEY = "random_forest/v1/model.joblib"  # the guide's `ml-models/random_forest/v1/model.joblib`


def _upload(s3, bucket, key, path_or_bytes):
    body = path_or_bytes if isinstance(path_or_bytes, bytes) else path_or_bytes.read_bytes()
    s3.put_object(Bucket=bucket, Key=key, Body=body)


def _register(api, name, version, source, **extra):
    return api.post(f"/custom-models/{name}/versions", json={"version": version, "source": source, **extra})


def _run(cf, account, model, **body):
    return cf.ai.run(model, account_id=account, extra_body=body)


def test_guide_flow_joblib_trusted_predicts_like_the_model(cf, api, s3, bucket, account, model_files, forest,
                                                           churn_data, cm_server):
    import httpx

    _upload(s3, bucket, GUIDE_KEY, model_files / "model.joblib")
    made = _register(api, "churn", "v1", f"r2://{bucket}/{GUIDE_KEY}", trusted=True)
    assert made.status_code == 201, made.text
    info = made.json()["result"]
    assert info["features"] == FEATURES and info["classes"] == ["churn", "stay"] and info["served"] is True

    x, _ = churn_data
    row = dict(zip(FEATURES, x.iloc[0].tolist()))
    answer = _run(cf, account, "@custom/churn", features=row)
    assert answer["model_version"] == "v1"
    assert answer["prediction"] == forest.predict(x.iloc[:1])[0]
    assert answer["probability"] == pytest.approx(forest.predict_proba(x.iloc[:1])[0].tolist())

    # the same row as a list, in the model's order
    assert _run(cf, account, "@custom/churn", features=x.iloc[0].tolist())["prediction"] == answer["prediction"]

    many = _run(cf, account, "@custom/churn", instances=x.iloc[:50].values.tolist())
    assert many["predictions"] == forest.predict(x.iloc[:50]).tolist()
    assert np.allclose(many["probabilities"], forest.predict_proba(x.iloc[:50]))
    assert many["model_version"] == "v1"

    raw = cf.ai.with_raw_response.run("@custom/churn", account_id=account, extra_body={"features": row})
    assert raw.headers["x-kumo-model-version"] == "v1"

    # per-version counts, latency and predicted classes in /metrics
    assert api.post("/run/@custom/churn", json={"features": {"nope": 1}}).status_code == 400
    metrics = httpx.get(f"{cm_server.url}/metrics", headers={"authorization": f"Bearer {TOKEN}"}).text
    acct, model = f'account="{account}"', 'model="@custom/churn"'  # prometheus_client sorts labels by name
    assert f'kumo_custom_model_calls_total{{{acct},{model},outcome="ok",version="v1"}} 4.0' in metrics
    assert f'kumo_custom_model_calls_total{{{acct},{model},outcome="refused",version="v1"}} 1.0' in metrics
    assert f'kumo_custom_model_inference_seconds_count{{{acct},{model},version="v1"}} 4.0' in metrics
    churned = sum(forest.predict(x.iloc[:50]) == "churn") + 3 * (answer["prediction"] == "churn")
    assert f'kumo_custom_model_predictions_total{{{acct},{model},prediction="churn",version="v1"}} {float(churned)}' \
        in metrics


def test_onnx_and_skops_of_the_same_forest_give_the_same_predictions(cf, api, s3, bucket, account, model_files,
                                                                     forest, churn_data):
    _upload(s3, bucket, "rf/model.onnx", model_files / "model.onnx")
    _upload(s3, bucket, "rf/model.skops", model_files / "model.skops")
    assert _register(api, "rf-onnx", "v1", f"r2://{bucket}/rf/model.onnx").status_code == 201
    made = _register(api, "rf-skops", "v1", f"r2://{bucket}/rf/model.skops")  # skops: safe, no trust needed
    assert made.status_code == 201, made.text

    x, _ = churn_data
    rows = x.iloc[:200].values.tolist()
    expected = forest.predict(x.iloc[:200]).tolist()
    onnx = _run(cf, account, "@custom/rf-onnx", instances=rows)
    skops = _run(cf, account, "@custom/rf-skops", instances=rows)
    agree = np.mean(np.array(onnx["predictions"]) == np.array(expected))
    assert agree >= 0.99  # ONNX computes in float32: a row on a threshold may tip
    assert skops["predictions"] == expected
    assert np.allclose(onnx["probabilities"], forest.predict_proba(x.iloc[:200]), atol=1e-4)
    one = _run(cf, account, "@custom/rf-onnx", features=rows[0])
    assert one["probability"] == pytest.approx(onnx["probabilities"][0], abs=1e-6)
    # ONNX's single float input has no names: a named row is refused, saying what to send
    named = api.post("/run/@custom/rf-onnx", json={"features": dict(zip(FEATURES, rows[0]))})
    assert named.status_code == 400 and "does not name its features" in named.text


def _nothing_registered(api, name):
    assert api.get(f"/custom-models/{name}").status_code == 404
    assert all(m["model"] != f"@custom/{name}" for m in api.get("/custom-models").json()["result"])


def test_refusals_are_clear_and_register_nothing(api, s3, bucket, model_files):
    _upload(s3, bucket, "m/model.joblib", model_files / "model.joblib")
    untrusted = _register(api, "bad", "v1", f"r2://{bucket}/m/model.joblib")
    assert untrusted.status_code == 400 and "trusted" in untrusted.text and "runs any code" in untrusted.text

    _upload(s3, bucket, "m/corrupt.onnx", b"\x08\x07not an onnx graph at all")
    corrupt = _register(api, "bad", "v1", f"r2://{bucket}/m/corrupt.onnx")
    assert corrupt.status_code == 400 and "ONNX" in corrupt.text
    _upload(s3, bucket, "m/corrupt.joblib", b"garbage, not a pickle")
    corrupt = _register(api, "bad", "v1", f"r2://{bucket}/m/corrupt.joblib", trusted=True)
    assert corrupt.status_code == 400 and "joblib/pickle" in corrupt.text
    _upload(s3, bucket, "m/corrupt.skops", b"PK not a zip")
    assert _register(api, "bad", "v1", f"r2://{bucket}/m/corrupt.skops").status_code == 400

    missing = _register(api, "bad", "v1", f"r2://{bucket}/m/nope.onnx")
    assert missing.status_code == 404 and f"r2://{bucket}/m/nope.onnx" in missing.text
    assert _register(api, "bad", "v1", "r2://no-such-bucket/model.onnx").status_code == 404

    _upload(s3, bucket, "m/model.h5", b"HDF")
    other = _register(api, "bad", "v1", f"r2://{bucket}/m/model.h5")
    assert other.status_code == 400 and ".onnx" in other.text
    assert _register(api, "bad", "v1", f"r2://{bucket}/m/model.h5", format="keras").status_code == 400

    for body in ({"version": "v1", "source": "s3://x/y.onnx"}, {"version": "../v1", "source": f"r2://{bucket}/k.onnx"},
                 {"version": "v1", "source": f"r2://{bucket}/m/model.onnx", "trusted": "yes"},
                 {"version": "v1", "source": f"r2://{bucket}/m/model.onnx", "shadow": True}):
        assert api.post("/custom-models/bad/versions", json=body).status_code == 400, body
    assert api.post("/custom-models/Bad Name!/versions", json={"version": "v1", "source": "r2://b/k.onnx"}
                    ).status_code == 400
    _nothing_registered(api, "bad")


def test_tokens_must_be_allowed_to_trust_and_to_read_the_bucket(api, s3, bucket, model_files):
    _upload(s3, bucket, "t/model.joblib", model_files / "model.joblib")
    body = {"version": "v1", "source": f"r2://{bucket}/t/model.joblib", "trusted": True}
    plain = api.post("/custom-models/tok/versions", json=body, headers={"authorization": f"Bearer {PLAIN}"})
    assert plain.status_code == 403 and "custom_models_trusted" in plain.text
    elsewhere = api.post("/custom-models/tok/versions", json={**body, "trusted": False},
                         headers={"authorization": f"Bearer {ONE_BUCKET}"})
    assert elsewhere.status_code == 403 and bucket in elsewhere.text
    _nothing_registered(api, "tok")


def test_wrong_features_are_400s_naming_them(cf, api, s3, bucket, account, model_files):
    _upload(s3, bucket, "f/model.skops", model_files / "model.skops")
    assert _register(api, "feat", "v1", f"r2://{bucket}/f/model.skops").status_code == 201
    row = dict.fromkeys(FEATURES, 1.0)
    cases = [
        ({"features": {**row, "income": 3}}, "'income'"),
        ({"features": {k: v for k, v in row.items() if k != "age"}}, "missing feature 'age'"),
        ({"features": {**row, "age": "old"}}, "'age'"),
        ({"features": [1.0, 2.0]}, "2 features given"),
        ({"instances": [list(row.values()), {**row, "tenure": 1}]}, "instance 1"),
        ({"features": list(row.values()), "instances": []}, "features"),
        ({"prompt": "hi"}, "features"),
        ({"instances": []}, "non-empty"),
    ]
    for body, needle in cases:
        r = api.post("/run/@custom/feat", json=body)
        assert r.status_code == 400 and needle in r.json()["errors"][0]["message"], (body, r.text)
    assert api.post("/run/@custom/nobody", json={"features": [1, 2, 3, 4]}).status_code == 404


def test_promote_and_rollback_take_effect_without_restart(cf, api, s3, bucket, account, model_files, churn_data):
    from sklearn.linear_model import LogisticRegression
    import skops.io as sio
    import tempfile, pathlib

    x, y = churn_data
    other = LogisticRegression(max_iter=500).fit(x, y)
    path = pathlib.Path(tempfile.mkdtemp()) / "lr.skops"
    sio.dump(other, path)
    _upload(s3, bucket, "p/v1.skops", model_files / "model.skops")
    _upload(s3, bucket, "p/v2.skops", path)
    assert _register(api, "promo", "v1", f"r2://{bucket}/p/v1.skops").status_code == 201
    assert _register(api, "promo", "v2", f"r2://{bucket}/p/v2.skops").status_code == 201
    again = _register(api, "promo", "v2", f"r2://{bucket}/p/v1.skops")
    assert again.status_code == 409 and "immutable" in again.text

    row = x.iloc[3].tolist()
    assert _run(cf, account, "@custom/promo", features=row)["model_version"] == "v1"  # first registered is served
    promoted = api.post("/custom-models/promo/promote", json={"version": "v2"})
    assert promoted.json()["result"]["served_version"] == "v2"
    answer = _run(cf, account, "@custom/promo", features=row)
    assert answer["model_version"] == "v2"
    assert answer["probability"] == pytest.approx(other.predict_proba(x.iloc[3:4])[0].tolist())
    versions = api.get("/custom-models/promo/versions").json()["result"]
    assert [(v["version"], v["served"]) for v in versions] == [("v1", False), ("v2", True)]

    assert api.post("/custom-models/promo/rollback").json()["result"]["served_version"] == "v1"
    assert _run(cf, account, "@custom/promo", features=row)["model_version"] == "v1"
    nothing = api.post("/custom-models/promo/rollback")
    assert nothing.status_code == 409 and "roll back" in nothing.text
    assert api.post("/custom-models/promo/promote", json={"version": "v9"}).status_code == 404
    assert api.delete("/custom-models/promo/versions/v1").status_code == 409  # served: promote another first
    assert api.delete("/custom-models/promo/versions/v2").status_code == 200
    assert [v["version"] for v in api.get("/custom-models/promo/versions").json()["result"]] == ["v1"]


def test_an_object_overwritten_after_registration_is_not_served_as_that_version(cf, api, s3, bucket, account,
                                                                                 model_files, cm_server):
    _upload(s3, bucket, "o/model.skops", model_files / "model.skops")
    assert _register(api, "over", "v1", f"r2://{bucket}/o/model.skops").status_code == 201
    _upload(s3, bucket, "o/model.skops", model_files / "model.skops" if False else b"other bytes")
    # the registered bytes are cached (memory and disk): the version keeps answering with them
    assert _run(cf, account, "@custom/over", features=[1, 2, 3, 4])["model_version"] == "v1"


def test_a_90_10_split_lands_within_2_percent_and_sticks_per_caller_key(cf, api, s3, bucket, account, model_files,
                                                                         cm_server):
    import httpx

    _upload(s3, bucket, "s/v1.skops", model_files / "model.skops")
    _upload(s3, bucket, "s/v2.onnx", model_files / "model.onnx")
    assert _register(api, "ab", "v1", f"r2://{bucket}/s/v1.skops").status_code == 201
    assert _register(api, "ab", "v2", f"r2://{bucket}/s/v2.onnx").status_code == 201
    for bad in ({"weights": {"v1": 90}}, {"weights": {"v1": 90, "v2": -1}}, {"weights": {"v1": 0, "v2": 0}},
                {"weights": {"v1": 90, "v2": "10"}}, {"weights": {"v1": 90, "v2": 10}, "sticky": False}):
        assert api.put("/custom-models/ab/split", json=bad).status_code == 400, bad
    assert api.put("/custom-models/ab/split", json={"weights": {"v1": 90, "v9": 10}}).status_code == 404
    made = api.put("/custom-models/ab/split", json={"weights": {"v1": 90, "v2": 10}})
    assert made.status_code == 200 and made.json()["result"]["split"] == {"v1": 90, "v2": 10}

    # 1,000 callers over HTTP (seconds); 10,000 keys are checked in process in test_split_of_10000_keys
    seen: dict[str, str] = {}
    counts = {"v1": 0, "v2": 0}
    with httpx.Client(base_url=api.base_url, headers=api.headers, timeout=30) as client:
        for n in range(1000):
            key = f"user-{n}"
            r = client.post("/run/@custom/ab", json={"features": [20.0, 70.0, 3.0, 40.0]},
                            headers={"x-kumo-caller-key": key})
            assert r.status_code == 200, r.text
            seen[key] = r.json()["result"]["model_version"]
            assert r.headers["x-kumo-model-version"] == seen[key]
        for n in range(0, 1000, 50):  # the same keys again: the same versions
            key = f"user-{n}"
            r = client.post("/run/@custom/ab", json={"features": [20.0, 70.0, 3.0, 40.0]},
                            headers={"x-kumo-caller-key": key})
            assert r.json()["result"]["model_version"] == seen[key]
    for version in seen.values():
        counts[version] += 1
    assert abs(counts["v2"] / 1000 - 0.10) <= 0.03, counts  # 1,000 keys: binomial sd ~0.95 %
    # through the SDK too, with the key as a header
    sdk = cf.ai.run("@custom/ab", account_id=account, extra_body={"features": [20.0, 70.0, 3.0, 40.0]},
                    extra_headers={"x-kumo-caller-key": "user-7"})
    assert sdk["model_version"] == seen["user-7"]

    assert api.delete("/custom-models/ab/versions/v2").status_code == 409  # in the split
    assert api.delete("/custom-models/ab/split").json()["result"]["split"] is None
    for key in ("user-1", "user-2", "user-3"):
        r = api.post("/run/@custom/ab", json={"features": [1, 2, 3, 4]}, headers={"x-kumo-caller-key": key})
        assert r.json()["result"]["model_version"] == "v1"


def test_a_shadow_version_answers_a_copy_that_never_reaches_the_caller(cf, api, s3, bucket, account, model_files,
                                                                      forest, churn_data):
    import time

    from sklearn.linear_model import LogisticRegression
    import skops.io as sio
    import tempfile, pathlib

    x, y = churn_data
    other = LogisticRegression(max_iter=500).fit(x.values, y)  # unnamed features: a list works, a dict is refused
    path = pathlib.Path(tempfile.mkdtemp()) / "lr.skops"
    sio.dump(other, path)
    _upload(s3, bucket, "sh/v1.skops", model_files / "model.skops")
    _upload(s3, bucket, "sh/v2.skops", path)
    assert _register(api, "sh", "v1", f"r2://{bucket}/sh/v1.skops").status_code == 201
    assert _register(api, "sh", "v2", f"r2://{bucket}/sh/v2.skops").status_code == 201
    assert api.put("/custom-models/sh/shadow", json={"version": "v9"}).status_code == 404
    made = api.put("/custom-models/sh/shadow", json={"version": "v2"})
    assert made.json()["result"]["shadow_version"] == "v2"

    rows = x.iloc[:40].values.tolist()
    answer = _run(cf, account, "@custom/sh", instances=rows)
    assert answer["model_version"] == "v1" and answer["predictions"] == forest.predict(x.iloc[:40]).tolist()
    named = _run(cf, account, "@custom/sh", features=dict(zip(FEATURES, rows[0])))  # the shadow fails on this one
    assert named["model_version"] == "v1" and "probability" in named

    deadline = time.time() + 10
    while time.time() < deadline:
        report = api.get("/custom-models/sh/shadow").json()["result"]
        if report["summary"]["calls"] == 2:
            break
        time.sleep(0.1)
    summary = report["summary"]
    assert summary["calls"] == 2 and summary["errors"] == 1 and summary["rows"] == 40
    expected = sum(a == b for a, b in zip(other.predict(x.iloc[:40].values), forest.predict(x.iloc[:40]))) / 40
    assert summary["agreement"] == pytest.approx(expected)
    assert "does not name its features" in next(r["error"] for r in report["recent"] if r["error"])
    assert api.delete("/custom-models/sh/versions/v2").status_code == 409  # the shadow: turn it off first
    assert api.delete("/custom-models/sh/shadow").json()["result"]["shadow_version"] is None
    assert api.get("/custom-models/sh/shadow?limit=0").status_code == 400


def test_two_registrations_of_one_version_at_once_make_one_version(api, s3, bucket, model_files):
    from concurrent.futures import ThreadPoolExecutor

    _upload(s3, bucket, "c/model.skops", model_files / "model.skops")
    with ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(lambda _: _register(api, "race", "v1", f"r2://{bucket}/c/model.skops").status_code,
                                range(4)))
    assert codes == [201, 409, 409, 409]
    assert [v["version"] for v in api.get("/custom-models/race/versions").json()["result"]] == ["v1"]
