"""What the batch scoring tests share: datasets with an id column, uploading them in each format, submitting a
job and waiting for it, and reading an output back."""

from __future__ import annotations

import io
import time

import httpx
import numpy as np
import pandas as pd

from tests.custom_models.conftest import FEATURES


def dataset(rows: int, seed: int = 1) -> pd.DataFrame:
    """Churn-like rows (the forest's features) with an id column and a free-text note."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(FEATURES))) * [12, 30, 2, 15] + [24, 70, 3, 45]
    frame = pd.DataFrame(x, columns=FEATURES)
    frame.insert(0, "customer_id", np.arange(rows, dtype=np.int64) * 7 + 1000)
    frame["note"] = [f"customer {i} called about billing" for i in range(rows)]
    return frame


def encode(frame: pd.DataFrame, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "parquet":
        frame.to_parquet(out, index=False)
    elif fmt == "csv":
        frame.to_csv(out, index=False)
    else:
        frame.to_json(out, orient="records", lines=True, double_precision=15)
    return out.getvalue()


def decode(data: bytes, fmt: str) -> pd.DataFrame:
    if fmt == "parquet":
        return pd.read_parquet(io.BytesIO(data))
    if fmt == "csv":
        return pd.read_csv(io.BytesIO(data))
    return pd.read_json(io.BytesIO(data), lines=True)


def wait_done(api: httpx.Client, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api.get(f"/scoring-jobs/{job_id}").json()["result"]
        if job["status"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"scoring job {job_id} did not finish in {timeout} s: {job}")


def keys_once_parts_dropped(s3, bucket: str, prefix: str, timeout: float = 60) -> list[str]:
    """The keys under `prefix` once no job's parts are left there (or at the deadline). A worker deletes a job's
    parts after marking it done, not before: one that lost its lease meanwhile leaves them to its successor."""
    deadline = time.monotonic() + timeout
    while True:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
        if not any(".kumo-parts/" in key for key in keys) or time.monotonic() > deadline:
            return keys
        time.sleep(0.2)


def check_scored(out: pd.DataFrame, given: pd.DataFrame, forest) -> None:
    """Every input row exactly once (by id), its columns intact, and the forest's own predictions."""
    assert out["customer_id"].is_unique and len(out) == len(given)
    assert set(out["customer_id"]) == set(given["customer_id"])
    out = out.set_index("customer_id").loc[given["customer_id"]]
    assert np.allclose(out[FEATURES].to_numpy(), given[FEATURES].to_numpy())
    assert (out["prediction"].to_numpy() == forest.predict(given[FEATURES])).all()
    proba = forest.predict_proba(given[FEATURES])
    for i, label in enumerate(forest.classes_):
        assert np.allclose(out[f"probability_{label}"].to_numpy(), proba[:, i])
