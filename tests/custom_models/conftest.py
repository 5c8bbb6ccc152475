"""A `kumo serve` (embedded, and on PostgreSQL) with an API token, boto3 pointed at its R2 as the guide does,
and a real RandomForest trained on named columns, saved as joblib (the guide's format), skops and ONNX."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.conftest import Server
from tests.r2.conftest import s3_client

TOKEN = "custom-models-token-0123456789"  # custom_models_trusted: may register joblib/pickle versions
PLAIN = "custom-models-plain-token-987654"  # may not vouch for pickles
ONE_BUCKET = "custom-models-one-bucket-1234"  # R2 scope: only the bucket "other"
FEATURES = ["tenure_months", "monthly_charges", "support_calls", "age"]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def cm_server(request, tmp_path_factory):
    tokens = [{"token": TOKEN, "custom_models_trusted": True}, {"token": PLAIN},
              {"token": ONE_BUCKET, "r2_buckets": ["other"]}]
    env = {"KUMO_API_TOKENS": json.dumps(tokens)}
    if request.param == "postgres":
        env["KUMO_DATABASE_URL"] = request.getfixturevalue("pg_url")
    srv = Server(tmp_path_factory.mktemp(f"cm-{request.param}") / "data", env=env).start()
    yield srv
    srv.stop()


@pytest.fixture
def account() -> str:
    return "acct" + uuid.uuid4().hex[:12]


@pytest.fixture
def s3(cm_server, account):
    return s3_client(cm_server.url, account, TOKEN)


@pytest.fixture
def bucket(s3) -> str:
    s3.create_bucket(Bucket="ml-models")
    return "ml-models"


@pytest.fixture
def api(cm_server, account):
    with httpx.Client(base_url=f"{cm_server.url}/client/v4/accounts/{account}/ai",
                      headers={"authorization": f"Bearer {TOKEN}"}, timeout=60) as client:
        yield client


@pytest.fixture
def cf(cm_server):
    from cloudflare import Cloudflare

    client = Cloudflare(api_token=TOKEN, base_url=cm_server.url + "/client/v4", max_retries=0)
    yield client
    client.close()


@pytest.fixture(scope="session")
def churn_data():
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    x = pd.DataFrame(rng.normal(size=(400, len(FEATURES))) * [12, 30, 2, 15] + [24, 70, 3, 45], columns=FEATURES)
    y = np.where(x["support_calls"] * 8 - x["tenure_months"] + rng.normal(scale=4, size=400) > 0, "churn", "stay")
    return x, y


@pytest.fixture(scope="session")
def forest(churn_data):
    from sklearn.ensemble import RandomForestClassifier

    x, y = churn_data
    return RandomForestClassifier(n_estimators=25, max_depth=6, random_state=0).fit(x, y)


@pytest.fixture(scope="session")
def model_files(forest, tmp_path_factory):
    """The forest as joblib (the guide's), skops, and ONNX (skl2onnx, one float input)."""
    import joblib
    import skops.io as sio
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    base = tmp_path_factory.mktemp("model-files")
    joblib.dump(forest, base / "model.joblib")
    sio.dump(forest, base / "model.skops")
    onnx = to_onnx(forest, initial_types=[("float_input", FloatTensorType([None, len(FEATURES)]))])
    (base / "model.onnx").write_bytes(onnx.SerializeToString())
    return base
