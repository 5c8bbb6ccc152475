"""`kumo.Env().AI.run("@custom/...")`: the same custom model in process, its file put through env.R2."""

from __future__ import annotations

from kumo import Env
from tests.custom_models.conftest import FEATURES


def test_env_ai_run_serves_a_custom_model(tmp_path, model_files, forest, churn_data):
    x, _ = churn_data
    with Env(data_dir=tmp_path / "data") as env:
        env.R2("ml-models", create=True).put("random_forest/v1/model.skops",
                                             (model_files / "model.skops").read_bytes())
        env._loop.call(env.platform.custom_models.register(env.account_id, "@custom/churn", "v1",
                                                           "r2://ml-models/random_forest/v1/model.skops"))
        answer = env.AI.run("@custom/churn", {"features": dict(zip(FEATURES, x.iloc[5].tolist()))})
    assert answer["model_version"] == "v1"
    assert answer["prediction"] == forest.predict(x.iloc[5:6])[0]
