"""`kumo r2 ...` against a server with tokens (its SigV4 is checked for real), and in process (--local)."""

from __future__ import annotations

import os

from click.testing import CliRunner

from kumo.cli import main
from kumo.r2.credentials import s3_credentials
from tests.r2.conftest import TOKEN


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_r2_commands_against_server(r2_server, r2_account, s3, tmp_path):
    c = ["--url", r2_server.url, "--token", TOKEN, "--account", r2_account]
    assert "Created bucket" in run("r2", "bucket", "create", "cli-bucket", "--location", "weur", *c)
    assert "cli-bucket" in run("r2", "bucket", "list", *c)
    big = tmp_path / "weights.bin"
    big.write_bytes(os.urandom(12 * 1024 * 1024))
    assert "Uploaded" in run("r2", "put", str(big), "cli-bucket/models/weights.bin", "--content-type",
                             "application/octet-stream", *c)
    small = tmp_path / "notes name.txt"
    small.write_text("hello r2")
    run("r2", "put", str(small), "cli-bucket/docs/notes name.txt", *c)
    listing = run("r2", "ls", "cli-bucket", *c)
    assert "models/" in listing and "docs/" in listing
    assert "weights.bin" in run("r2", "ls", "cli-bucket/models/", "--recursive", *c)
    back = tmp_path / "back.bin"
    run("r2", "get", "cli-bucket/models/weights.bin", str(back), *c)
    assert back.read_bytes() == big.read_bytes()
    assert s3.get_object(Bucket="cli-bucket", Key="models/weights.bin")["ContentLength"] == 12 * 1024 * 1024
    run("r2", "rm", "cli-bucket/models/weights.bin", *c)
    assert "weights.bin" not in run("r2", "ls", "cli-bucket", "--recursive", *c)
    failed = CliRunner().invoke(main, ["r2", "bucket", "delete", "cli-bucket", *c])
    assert failed.exit_code != 0 and "not empty" in failed.output
    wrong = CliRunner().invoke(main, ["r2", "ls", "cli-bucket", "--url", r2_server.url, "--token", "wrong",
                                      "--account", r2_account])
    assert wrong.exit_code != 0 and "InvalidAccessKeyId" in wrong.output


def test_r2_commands_local_and_credentials(tmp_path):
    d = ["--local", "--data-dir", str(tmp_path / "data")]
    run("r2", "bucket", "create", "here", *d)
    file = tmp_path / "a.txt"
    file.write_text("local bytes")
    run("r2", "put", str(file), "here", *d)
    assert "a.txt" in run("r2", "ls", "here", *d)
    assert run("r2", "get", "here/a.txt", "-", *d).startswith("local bytes")
    key_id, secret = s3_credentials("my-token")
    out = run("r2", "credentials", "--token", "my-token")
    assert key_id in out and secret in out and "my-token" not in out
