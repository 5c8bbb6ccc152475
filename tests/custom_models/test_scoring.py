"""Batch scoring over R2 on an embedded `kumo serve`: a RandomForest trained in the test and registered from R2
scores CSV, JSONL and Parquet datasets uploaded with boto3; a catalog embeddings model scores a text column;
mistakes are clear 4xx before any row is scored; the CLI follows a job with a progress bar."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import numpy as np
import pytest
from click.testing import CliRunner

from kumo.cli import main
from tests.conftest import Server
from tests.custom_models.conftest import FEATURES, ONE_BUCKET, TOKEN
from tests.custom_models.scoring_helpers import check_scored, dataset, decode, encode, \
    keys_once_parts_dropped, wait_done
from tests.r2.conftest import s3_client

EMBED = "@cf/baai/bge-small-en-v1.5"
LLM = "@cf/meta/llama-3.1-8b-instruct"  # a stand-in answers when its own weights are not here


@pytest.fixture(scope="module")
def cm_server(tmp_path_factory):
    """One embedded node here (conftest's runs on both backends); PostgreSQL is test_scoring_scale_out.py's."""
    tokens = [{"token": TOKEN, "custom_models_trusted": True}, {"token": ONE_BUCKET, "r2_buckets": ["other"]}]
    srv = Server(tmp_path_factory.mktemp("scoring") / "data", env={"KUMO_API_TOKENS": json.dumps(tokens)}).start()
    yield srv
    srv.stop()


@pytest.fixture
def s3(cm_server, account):
    client = s3_client(cm_server.url, account, TOKEN)
    for name in ("ml-models", "lake"):
        client.create_bucket(Bucket=name)
    return client


@pytest.fixture
def churn(api, s3, model_files):
    s3.put_object(Bucket="ml-models", Key="churn/v1/model.skops", Body=(model_files / "model.skops").read_bytes())
    made = api.post("/custom-models/churn/versions", json={"version": "v1", "source": "r2://ml-models/churn/v1/model.skops"})
    assert made.status_code == 201, made.text
    return "@custom/churn"


@pytest.mark.parametrize("fmt,out_fmt", [("csv", "csv"), ("jsonl", "jsonl"), ("csv", "parquet")])
def test_a_dataset_is_scored_into_r2_with_every_row_once(api, s3, churn, forest, fmt, out_fmt):
    given = dataset(3000, seed=len(fmt) + len(out_fmt))
    s3.put_object(Bucket="lake", Key=f"bronze/customers.{fmt}", Body=encode(given, fmt))
    body = {"model": churn, "input": f"r2://lake/bronze/customers.{fmt}", "output": f"r2://lake/gold/scored.{out_fmt}",
            "chunk_rows": 500}
    made = api.post("/scoring-jobs", json=body)
    assert made.status_code == 201, made.text
    job = made.json()["result"]
    assert job["model_version"] == "v1" and job["columns"] == FEATURES
    assert job["progress"]["rows_total"] == 3000 and job["progress"]["chunks_total"] == 6
    assert job["prediction_columns"] == ["prediction", "probability_churn", "probability_stay"]
    done = wait_done(api, job["id"])
    assert done["status"] == "done", done
    assert done["progress"] == {"rows_done": 3000, "rows_total": 3000, "chunks_done": 6, "chunks_total": 6}
    out = decode(s3.get_object(Bucket="lake", Key=f"gold/scored.{out_fmt}")["Body"].read(), out_fmt)
    assert list(out.columns) == list(given.columns) + job["prediction_columns"]
    check_scored(out, given, forest)
    assert (out["note"] == given["note"]).all()
    assert keys_once_parts_dropped(s3, "lake", "gold/scored") == [f"gold/scored.{out_fmt}"]  # the parts are gone
    assert any(j["id"] == job["id"] for j in api.get("/scoring-jobs").json()["result"])


def test_an_onnx_model_with_one_unnamed_input_takes_the_columns_given(api, s3, model_files, forest):
    s3.put_object(Bucket="ml-models", Key="rf.onnx", Body=(model_files / "model.onnx").read_bytes())
    assert api.post("/custom-models/rf/versions", json={"version": "v1", "source": "r2://ml-models/rf.onnx"}
                    ).status_code == 201
    given = dataset(1000, seed=4)
    s3.put_object(Bucket="lake", Key="rf.csv", Body=encode(given, "csv"))
    body = {"model": "@custom/rf", "input": "r2://lake/rf.csv", "output": "r2://lake/rf-out.parquet"}
    unnamed = api.post("/scoring-jobs", json=body)
    assert unnamed.status_code == 400 and "does not name its features" in unnamed.text
    made = api.post("/scoring-jobs", json={**body, "columns": FEATURES})
    assert made.status_code == 201, made.text
    assert wait_done(api, made.json()["result"]["id"])["status"] == "done"
    out = decode(s3.get_object(Bucket="lake", Key="rf-out.parquet")["Body"].read(), "parquet")
    assert (out["customer_id"] == given["customer_id"]).all()
    assert np.mean(out["prediction"] == forest.predict(given[FEATURES])) >= 0.99  # ONNX computes in float32
    assert np.allclose(out["probability_churn"], forest.predict_proba(given[FEATURES])[:, 0], atol=1e-4)


def test_an_embeddings_model_scores_a_text_column(api, s3):
    given = dataset(130).head(130)
    s3.put_object(Bucket="lake", Key="notes.parquet", Body=encode(given, "parquet"))
    made = api.post("/scoring-jobs", json={"model": EMBED, "input": "r2://lake/notes.parquet",
                                           "output": "r2://lake/notes-embedded.jsonl", "columns": ["note"],
                                           "chunk_rows": 100})
    assert made.status_code == 201, made.text
    done = wait_done(api, made.json()["result"]["id"])
    assert done["status"] == "done", done
    out = decode(s3.get_object(Bucket="lake", Key="notes-embedded.jsonl")["Body"].read(), "jsonl")
    assert sorted(out["customer_id"]) == sorted(given["customer_id"])
    direct = api.post(f"/run/{EMBED}", json={"text": given["note"].tolist()[:3]}).json()["result"]["data"]
    for i in range(3):
        row = out[out["customer_id"] == given["customer_id"][i]].iloc[0]
        assert len(row["embedding"]) == 384 and np.allclose(row["embedding"], direct[i], atol=1e-5)


def test_a_text_generation_model_answers_a_prompt_column_with_the_parameters_given(api, s3):
    prompts = ["Say hello.", "Name a colour.", "Count to three."]
    s3.put_object(Bucket="lake", Key="prompts.csv", Body=("id,question\n" + "".join(
        f"{i},{p}\n" for i, p in enumerate(prompts))).encode())
    body = {"model": LLM, "input": "r2://lake/prompts.csv", "output": "r2://lake/answers.jsonl",
            "columns": ["question"], "parameters": {"max_tokens": 5}}
    refused = api.post("/scoring-jobs", json={**body, "parameters": {"max_tokens": "many"}})
    assert refused.status_code == 400 and "max_tokens" in refused.text
    made = api.post("/scoring-jobs", json=body)
    assert made.status_code == 201, made.text
    assert made.json()["result"]["prediction_columns"] == ["response"]
    done = wait_done(api, made.json()["result"]["id"], timeout=240)
    assert done["status"] == "done", done
    out = decode(s3.get_object(Bucket="lake", Key="answers.jsonl")["Body"].read(), "jsonl")
    assert out["id"].tolist() == [0, 1, 2] and out["question"].tolist() == prompts
    assert all(isinstance(r, str) and r for r in out["response"])
    direct = api.post(f"/run/{LLM}", json={"prompt": prompts[0], "max_tokens": 5}).json()["result"]["response"]
    assert len(direct.split()) <= 5 and all(len(r.split()) <= 5 for r in out["response"])  # max_tokens applied


def test_mistakes_are_clear_4xx_and_start_nothing(api, s3, churn):
    given = dataset(200)
    s3.put_object(Bucket="lake", Key="in.parquet", Body=encode(given, "parquet"))
    s3.put_object(Bucket="lake", Key="not-parquet.parquet", Body=encode(given, "csv"))
    s3.put_object(Bucket="lake", Key="no-age.csv", Body=encode(given.drop(columns=["age"]), "csv"))
    s3.put_object(Bucket="lake", Key="text-age.csv", Body=encode(given.assign(age="old"), "csv"))
    ok = {"model": churn, "input": "r2://lake/in.parquet", "output": "r2://lake/out.parquet"}
    cases = [
        ({**ok, "input": "r2://lake/nope.parquet"}, 404, "r2://lake/nope.parquet does not exist"),
        ({**ok, "input": "r2://nope-bucket/in.parquet"}, 404, "bucket"),
        ({**ok, "output": "r2://nope-bucket/out.parquet"}, 404, "bucket"),
        ({**ok, "input": "r2://lake/no-age.csv"}, 400, "no column 'age'"),
        ({**ok, "input": "r2://lake/text-age.csv"}, 400, "column 'age' holds string"),
        ({**ok, "input": "r2://lake/not-parquet.parquet"}, 400, "not readable as PARQUET"),
        ({**ok, "input": "r2://lake/in.xlsx"}, 400, "cannot tell the format"),
        ({**ok, "input_format": "xlsx"}, 400, "input_format 'xlsx'"),
        ({**ok, "output": "r2://lake/in.parquet"}, 400, "must not overwrite the input"),
        ({**ok, "columns": ["age"]}, 400, "1 columns given, the model takes 4"),
        ({**ok, "chunk_rows": 5}, 400, "chunk_rows"),
        ({**ok, "chunk_rows": True}, 400, "chunk_rows"),
        ({**ok, "version": "v9"}, 404, "no version 'v9'"),
        ({**ok, "model": "@custom/nope"}, 404, "no custom model"),
        ({**ok, "model": "@cf/nope/model"}, 400, "No such model"),
        ({**ok, "model": "@cf/openai/whisper"}, 400, "batch scoring runs"),
        ({**ok, "model": EMBED, "columns": ["age"]}, 400, "column 'age' holds double"),
        ({**ok, "model": EMBED, "columns": ["note"], "parameters": {"pooling": "max"}}, 400, "pooling"),
        ({**ok, "parameters": {"x": 1}}, 400, "parameters are for catalog models"),
        ({**ok, "input": "s3://lake/in.parquet"}, 400, "r2://BUCKET/KEY"),
        ({**ok, "shadow": True}, 400, "unknown field 'shadow'"),
        ({"model": churn, "input": "r2://lake/in.parquet"}, 400, "'output' is missing"),
    ]
    for body, status, says in cases:
        got = api.post("/scoring-jobs", json=body)
        assert got.status_code == status and says in got.text, (body, got.status_code, got.text)
        assert got.json()["success"] is False
    s3.put_object(Bucket="lake", Key="prediction.csv", Body=encode(given.assign(prediction=1), "csv"))
    clash = api.post("/scoring-jobs", json={**ok, "input": "r2://lake/prediction.csv"})
    assert clash.status_code == 400 and "already has a column 'prediction'" in clash.text
    # a token limited to another bucket may not read the input
    limited = api.post("/scoring-jobs", json=ok, headers={"authorization": f"Bearer {ONE_BUCKET}"})
    assert limited.status_code == 403
    assert api.get("/scoring-jobs").json()["result"] == []
    assert api.get("/scoring-jobs/nope").status_code == 404
    assert api.delete("/scoring-jobs/nope").status_code == 404
    assert api.get("/scoring-jobs", params={"limit": "²"}).status_code == 400


def test_object_keys_r2_or_the_parts_cannot_hold_are_refused_naming_input_or_output(api, s3, churn, forest):
    given = dataset(300, seed=6)
    s3.put_object(Bucket="lake", Key="in\x01put.csv", Body=encode(given, "csv"))  # a control character: allowed
    ok = {"model": churn, "input": "r2://lake/in\x01put.csv", "output": "r2://lake/out.csv"}
    cases = [
        ({**ok, "input": "r2://lake/" + "a" * 1021 + ".csv"}, "input: the object key is 1025 bytes (UTF-8)"),
        ({**ok, "input": "r2://lake/" + "é" * 511 + ".csv"}, "input: the object key is 1026 bytes (UTF-8)"),
        ({**ok, "input": "r2://lake/in\x00.csv"}, "input: the object key holds a NUL character"),
        ({**ok, "output": "r2://lake/out\x00.csv"}, "output: the object key holds a NUL character"),
        ({**ok, "output": "r2://lake/" + "o" * 953 + ".csv"}, "output: the object key is 957 bytes (UTF-8); a "
                                                              "scoring job's output key may be at most 956"),
        ({**ok, "output": "r2://lake/" + "o" * 1100 + ".csv"}, "output: the object key is 1104 bytes"),
    ]
    for body, says in cases:
        got = api.post("/scoring-jobs", json=body)
        assert got.status_code == 400 and says in got.text, (says, got.status_code, got.text[:300])
        assert got.json()["success"] is False
    assert api.get("/scoring-jobs").json()["result"] == []
    # the longest output key there may be, with a control character: every part's key fits R2's 1024 bytes
    longest = "gold/\x07" + "k" * (956 - len("gold/\x07") - len(".parquet")) + ".parquet"
    made = api.post("/scoring-jobs", json={**ok, "output": f"r2://lake/{longest}", "chunk_rows": 100})
    assert made.status_code == 201, made.text
    done = wait_done(api, made.json()["result"]["id"])
    assert done["status"] == "done" and done["progress"]["chunks_done"] == 3, done
    check_scored(decode(s3.get_object(Bucket="lake", Key=longest)["Body"].read(), "parquet"), given, forest)


def test_cli_scores_with_a_progress_bar_and_lists_jobs(cm_server, account, s3, churn, forest):
    given = dataset(2000, seed=5)
    s3.put_object(Bucket="lake", Key="cli/in.parquet", Body=encode(given, "parquet"))
    c = ["--url", cm_server.url, "--token", TOKEN, "--account", account]
    result = CliRunner().invoke(main, ["models", "score", "churn", "--input", "r2://lake/cli/in.parquet",
                                       "--output", "r2://lake/cli/out.csv", "--chunk-rows", "400", *c])
    assert result.exit_code == 0, result.output
    assert "Scored 2000 rows with @custom/churn v1 into r2://lake/cli/out.csv" in result.output
    check_scored(decode(s3.get_object(Bucket="lake", Key="cli/out.csv")["Body"].read(), "csv"), given, forest)
    listing = CliRunner().invoke(main, ["models", "jobs", *c])
    assert listing.exit_code == 0 and "2000/2000" in listing.output
    missing = CliRunner().invoke(main, ["models", "score", "churn", "--input", "r2://lake/cli/nope.parquet",
                                        "--output", "r2://lake/cli/out.csv", *c])
    assert missing.exit_code != 0 and "does not exist" in missing.output


def test_a_cancelled_job_stops_and_writes_nothing(api, s3, churn):
    given = dataset(20_000, seed=9)
    s3.put_object(Bucket="lake", Key="big.parquet", Body=encode(given, "parquet"))
    made = api.post("/scoring-jobs", json={"model": churn, "input": "r2://lake/big.parquet",
                                           "output": "r2://lake/big-out.parquet", "chunk_rows": 100})
    job = made.json()["result"]
    cancelled = api.delete(f"/scoring-jobs/{job['id']}").json()["result"]
    assert cancelled["status"] in ("cancelled", "done")  # a fast machine may have finished all 200 chunks
    if cancelled["status"] == "cancelled":
        assert wait_done(api, job["id"])["status"] == "cancelled"
        assert cancelled["progress"]["rows_done"] < 20_000
        time.sleep(1)
        assert "Contents" not in s3.list_objects_v2(Bucket="lake", Prefix="big-out.parquet")


def test_embedded_kill9_mid_job_resumes_on_restart(tmp_path, model_files, forest):
    """One `kumo serve` on SQLite killed with kill -9 mid-job: started again on its data dir, it takes the
    interrupted chunks again at once (no lease to wait out) and the output holds every row once."""
    env = {"KUMO_API_TOKENS": json.dumps([{"token": TOKEN}]), "KUMO_SCORING_CONCURRENCY": "1"}
    first = Server(tmp_path / "data", env=env).start()
    account = "acct" + uuid.uuid4().hex[:12]
    s3 = s3_client(first.url, account, TOKEN)
    s3.create_bucket(Bucket="lake")
    s3.put_object(Bucket="lake", Key="m.skops", Body=(model_files / "model.skops").read_bytes())
    given = dataset(30_000, seed=3)
    s3.put_object(Bucket="lake", Key="in.jsonl", Body=encode(given, "jsonl"))
    auth = {"authorization": f"Bearer {TOKEN}"}
    base = f"/client/v4/accounts/{account}/ai"
    with httpx.Client(base_url=first.url + base, headers=auth, timeout=60) as api:
        assert api.post("/custom-models/churn/versions", json={"version": "v1", "source": "r2://lake/m.skops"}
                        ).status_code == 201
        made = api.post("/scoring-jobs", json={"model": "@custom/churn", "input": "r2://lake/in.jsonl",
                                               "output": "r2://lake/out.jsonl", "chunk_rows": 300})
        job_id = made.json()["result"]["id"]
        deadline = time.monotonic() + 120
        while api.get(f"/scoring-jobs/{job_id}").json()["result"]["progress"]["rows_done"] < 3000:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    first.kill9()
    second = Server(tmp_path / "data", env=env).start()
    s3 = s3_client(second.url, account, TOKEN)
    try:
        with httpx.Client(base_url=second.url + base, headers=auth, timeout=60) as api:
            resumed = api.get(f"/scoring-jobs/{job_id}").json()["result"]
            assert resumed["status"] == "running" and resumed["progress"]["rows_done"] >= 3000, resumed
            assert wait_done(api, job_id)["status"] == "done"
        check_scored(decode(s3.get_object(Bucket="lake", Key="out.jsonl")["Body"].read(), "jsonl"), given, forest)
    finally:
        second.stop()


def test_a_version_deleted_mid_job_fails_it_clearly_and_leaves_no_output(api, s3, churn):
    s3.put_object(Bucket="ml-models", Key="churn/v2/model.skops", Body=s3.get_object(
        Bucket="ml-models", Key="churn/v1/model.skops")["Body"].read())
    assert api.post("/custom-models/churn/versions", json={"version": "v2", "source": "r2://ml-models/churn/v2/model.skops"}
                    ).status_code == 201
    assert api.post("/custom-models/churn/promote", json={"version": "v2"}).status_code == 200
    s3.put_object(Bucket="lake", Key="many.parquet", Body=encode(dataset(40_000, seed=8), "parquet"))
    made = api.post("/scoring-jobs", json={"model": churn, "version": "v1", "input": "r2://lake/many.parquet",
                                           "output": "r2://lake/many-out.parquet", "chunk_rows": 100})
    job = made.json()["result"]
    assert job["model_version"] == "v1"  # pinned: not the served v2
    assert api.delete("/custom-models/churn/versions/v1").status_code == 200
    ended = wait_done(api, job["id"])
    if ended["status"] == "done":  # a fast machine scored all 400 chunks before the delete landed
        return
    assert ended["status"] == "failed" and "no version 'v1'" in ended["error"], ended
    time.sleep(1)
    assert "Contents" not in s3.list_objects_v2(Bucket="lake", Prefix="many-out.parquet")
