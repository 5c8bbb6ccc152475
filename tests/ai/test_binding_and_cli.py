"""`kumo.Env().AI` gives the same answers as HTTP; `kumo models` shows what runs here."""

from __future__ import annotations

import time

import numpy as np
from click.testing import CliRunner

import kumo
from kumo.cli import main


def test_env_ai_matches_http(tmp_path, cf, account):
    with kumo.Env(data_dir=tmp_path) as env:
        local = env.AI.run("@cf/baai/bge-small-en-v1.5", {"text": ["same answer"]})
        events = list(env.AI.run("@cf/meta/llama-3.1-8b-instruct", {"prompt": "hi", "stream": True, "max_tokens": 4}))
        assert events[-1]["usage"]["completion_tokens"] <= 4
        job = env.AI.run("@cf/baai/bge-small-en-v1.5", {"requests": [{"text": "a"}]}, {"queueRequest": True})
        for _ in range(100):
            polled = env.AI.run("@cf/baai/bge-small-en-v1.5", {"request_id": job["request_id"]}, {"queueRequest": True})
            if "responses" in polled:
                break
            time.sleep(0.1)
        assert polled["responses"][0]["success"]
        a = env.AI.run("@cf/meta/llama-3.1-8b-instruct", {"prompt": "Name a colour.", "max_tokens": 8, "seed": 9})
    remote = cf.ai.run("@cf/baai/bge-small-en-v1.5", account_id=account, text=["same answer"])
    assert np.allclose(local["data"], remote["data"], atol=1e-6)
    b = cf.ai.run("@cf/meta/llama-3.1-8b-instruct", account_id=account, prompt="Name a colour.", max_tokens=8, seed=9)
    assert a["response"] == b["response"]


def test_models_cli(tmp_path):
    result = CliRunner().invoke(main, ["models", "list", "--data-dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") > 3}
    assert "yes (package)" in lines["@kumo/smollm2-135m-instruct"]
    assert "stand-in" in lines["@cf/baai/bge-small-en-v1.5"]
    assert "kumo models pull" in lines["@cf/baai/bge-base-en-v1.5"]
    result = CliRunner().invoke(main, ["models", "pull", "@cf/nope", "--data-dir", str(tmp_path)])
    assert result.exit_code != 0 and "No such model" in result.output
    result = CliRunner().invoke(main, ["models", "rm", "@cf/baai/bge-base-en-v1.5", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0 and "no pulled weights" in result.output
