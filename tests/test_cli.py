"""The `kumo` CLI, in process (--local) and against the running server."""

from __future__ import annotations

import json

from click.testing import CliRunner

from kumo.cli import main
from tests.vectorize.helpers import make_vectors, ndjson


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_vectorize_commands_local(tmp_path):
    d = ["--local", "--data-dir", str(tmp_path / "data")]
    assert "Created index" in run("vectorize", "create", "films", "--dimensions", "4", "--metric", "cosine", *d)
    run("vectorize", "metadata-index", "create", "films", "--property", "parity", "--type", "string", *d)
    file = tmp_path / "v.ndjson"
    file.write_text(ndjson(make_vectors(2500, 4)))
    assert "2500 vectors" in run("vectorize", "insert", "films", str(file), *d)
    assert "vectorCount" in run("vectorize", "info", "films", *d) and "2500" in run("vectorize", "info", "films", *d)
    out = run("vectorize", "query", "films", "--vector", "[1,0,0,0]", "--top-k", "3", "--filter",
              '{"parity": "odd"}', "--return-metadata", "indexed", "--json", *d)
    result = json.loads(out)
    assert result["count"] == 3 and all(m["metadata"] == {"parity": "odd"} for m in result["matches"])
    assert "films" in run("vectorize", "list", *d)
    assert "parity" in run("vectorize", "metadata-index", "list", "films", *d)
    out = run("vectorize", "list-vectors", "films", "--count", "2", *d)
    assert "next page" in out
    run("vectorize", "delete-vectors", "films", "v0", *d)
    assert '"v1"' in run("vectorize", "get-vectors", "films", "v1", *d)
    run("vectorize", "delete", "films", "--yes", *d)
    assert "films" not in run("vectorize", "list", *d)


def test_cli_against_server_and_errors(server, account):
    u = ["--url", server.url, "--account", account]
    run("vectorize", "create", "remote-ix", "--preset", "@cf/baai/bge-small-en-v1.5", *u)
    assert "384" in run("vectorize", "get", "remote-ix", *u)
    result = CliRunner().invoke(main, ["vectorize", "get", "missing-ix", *u])
    assert result.exit_code != 0 and "3000" in result.output
    result = CliRunner().invoke(main, ["vectorize", "list", "--url", "http://127.0.0.1:1"])
    assert result.exit_code != 0 and "kumo serve" in result.output


def test_tables_print_names_as_written(tmp_path):
    """Table cells are plain text (kumo.cli.output): a description that looks like rich markup is not read as it."""
    d = ["--local", "--data-dir", str(tmp_path / "data")]
    run("vectorize", "create", "marked", "--dimensions", "4", "--metric", "cosine", "--description", "[red]x[/]", *d)
    out = run("vectorize", "list", *d)
    assert "[red]x[/]" in out and "marked" in out
