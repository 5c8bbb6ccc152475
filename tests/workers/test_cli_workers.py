"""`kumo workers dev` without what it needs says so (no Node stack traces)."""

from __future__ import annotations

from click.testing import CliRunner

from kumo.cli import main


def test_missing_config_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["workers", "dev"])
    assert result.exit_code != 0 and "wrangler.jsonc" in result.output
    result = CliRunner().invoke(main, ["workers", "dev", str(tmp_path / "nope.jsonc")])
    assert result.exit_code != 0 and "nope.jsonc" in result.output


def test_without_node_it_says_so(tmp_path, monkeypatch):
    (tmp_path / "wrangler.jsonc").write_text("{}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))  # no node, no npm
    result = CliRunner().invoke(main, ["workers", "dev"])
    assert result.exit_code != 0 and "Node.js" in result.output
