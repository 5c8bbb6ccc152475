"""`kumo gateway` against a running server."""

from __future__ import annotations

from click.testing import CliRunner

from kumo.cli import main
from tests.gateway.test_management import call


def run(*args):
    result = CliRunner().invoke(main, list(args), env={"COLUMNS": "200"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_gateway_cli(gw_server, acct):
    u = ["--url", gw_server.url, "--account", acct]
    assert "Created gateway" in run("gateway", "create", "cli-gw", "--cache-ttl", "120", "--rate-limit", "100", *u)
    out = run("gateway", "list", *u)
    assert "cli-gw" in out and "100/60s fixed" in out
    call(gw_server, acct, gateway="cli-gw")
    call(gw_server, acct, gateway="cli-gw", headers={"x-fake": "400"},
         body={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "other"}]})
    out = run("gateway", "logs", "cli-gw", *u)
    assert "gpt-4o-mini" in out and "400" in out, out
    assert "400" in run("gateway", "logs", "cli-gw", "--failed", *u)
    out = run("gateway", "tail", "cli-gw", "--count", "1", *u)
    assert out.count("gpt-4o-mini") == 2
