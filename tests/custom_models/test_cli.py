"""`kumo models register|versions|promote|rollback` against a running server."""

from __future__ import annotations

from click.testing import CliRunner

from kumo.cli import main
from tests.custom_models.conftest import TOKEN


def test_cli_registers_lists_promotes_and_rolls_back(cm_server, account, s3, bucket, model_files):
    s3.put_object(Bucket=bucket, Key="random_forest/v1/model.joblib",
                  Body=(model_files / "model.joblib").read_bytes())
    s3.put_object(Bucket=bucket, Key="random_forest/v2/model.onnx", Body=(model_files / "model.onnx").read_bytes())
    c = ["--url", cm_server.url, "--token", TOKEN, "--account", account]

    def run(*args, ok=True):
        result = CliRunner().invoke(main, ["models", *args, *c])
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    refused = run("register", "@custom/churn", "--version", "v1", "--from",
                  f"r2://{bucket}/random_forest/v1/model.joblib", ok=False)
    assert "trusted" in refused
    assert "Registered" in run("register", "@custom/churn", "--version", "v1", "--from",
                               f"r2://{bucket}/random_forest/v1/model.joblib", "--trusted")
    run("register", "churn", "--version", "v2", "--from", f"r2://{bucket}/random_forest/v2/model.onnx")
    listing = run("versions", "@custom/churn")
    assert "v1" in listing and "v2" in listing and "joblib" in listing and "onnx" in listing
    assert "v1 90, v2 10" in run("split", "@custom/churn", "v1=90", "v2=10")
    assert "serves v1 alone" in run("split", "@custom/churn", "--off")
    assert "VERSION=WEIGHT" in run("split", "@custom/churn", "v1", ok=False)
    assert "shadowed by v2" in run("shadow", "@custom/churn", "v2")
    assert "no shadow" in run("shadow", "@custom/churn", "--off")
    assert "serves v2" in run("promote", "@custom/churn", "v2")
    assert "rolled back to v1" in run("rollback", "@custom/churn")
    assert "no earlier served version" in run("rollback", "@custom/churn", ok=False)
    assert "no version" in run("promote", "churn", "v7", ok=False)
