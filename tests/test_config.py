"""Settings come from defaults, kumo.toml, KUMO_* environment and explicit values, in that order."""

from __future__ import annotations

from pathlib import Path

from kumo.config import Settings


def test_defaults(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    s = Settings()
    assert (s.host, s.port, s.data_dir) == ("127.0.0.1", 8787, Path(".kumo"))
    assert s.is_loopback and not s.auth_required


def test_toml_env_and_arguments(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kumo.toml").write_text(
        'port = 9000\ndata_dir = "/srv/kumo"\n[[api_tokens]]\ntoken = "t1"\naccounts = ["a1"]\n'
    )
    s = Settings()
    assert s.port == 9000 and s.data_dir == Path("/srv/kumo")
    assert s.api_tokens[0].token == "t1" and s.api_tokens[0].allows("a1") and not s.api_tokens[0].allows("a2")
    monkeypatch.setenv("KUMO_PORT", "9100")
    monkeypatch.setenv("KUMO_API_TOKENS", "x,y:a|b")
    s = Settings()
    assert s.port == 9100 and [g.accounts for g in s.api_tokens] == [[], ["a", "b"]]
    assert Settings(port=1234).port == 1234
    assert "x" not in repr(s.api_tokens)  # secrets never printed


def test_loopback_detection():
    assert Settings(host="::1").is_loopback and Settings(host="localhost").is_loopback
    assert not Settings(host="0.0.0.0").is_loopback and not Settings(host="192.168.1.5").is_loopback


def test_a_mistyped_backend_is_refused_at_start(monkeypatch, tmp_path):
    """`gateway_cache` is a choice: a typo stops `kumo serve` with the setting named, never means SQLite."""
    import pytest
    from click.testing import CliRunner
    from pydantic import ValidationError

    from kumo.cli import main

    monkeypatch.chdir(tmp_path)
    assert Settings(gateway_cache="memory").gateway_cache == "memory"
    with pytest.raises(ValidationError):
        Settings(gateway_cache="sqllite")
    result = CliRunner().invoke(main, ["serve", "--port", "0"], env={"KUMO_GATEWAY_CACHE": "sqllite",
                                                                    "KUMO_API_TOKENS": '[{"tokn": "sekrit"}]'})
    assert result.exit_code == 2, result.output
    assert "invalid setting `gateway_cache` (kumo.toml or KUMO_GATEWAY_CACHE)" in result.output
    assert "'sqllite'" in result.output and "Traceback" not in result.output
    assert "invalid setting `api_tokens.0.token`" in result.output and "sekrit" not in result.output


def test_backends_come_from_one_table():
    """Which backend serves each kind of state is `choose_backends(settings)`; a cache in Redis needs Redis."""
    import pytest
    from pydantic import ValidationError

    from kumo.platform import choose_backends

    embedded = choose_backends(Settings())
    assert (embedded.sql, embedded.vectors, embedded.gateway_cache, embedded.counters, embedded.r2_bytes) == (
        "sqlite", "embedded", "sqlite", "memory", "files")
    scaled = choose_backends(Settings(database_url="postgresql://db/kumo", redis_url="redis://r:6379/0",
                                      r2_engine_url="http://s3:8333"))
    assert (scaled.sql, scaled.vectors, scaled.gateway_cache, scaled.counters, scaled.r2_bytes) == (
        "postgresql", "pgvector", "redis", "redis", "s3-engine")
    # an explicit choice is applied, not overridden by redis_url
    assert choose_backends(Settings(redis_url="redis://r:6379/0", gateway_cache="memory")).gateway_cache == "memory"
    with pytest.raises(ValidationError, match="redis_url"):
        Settings(gateway_cache="redis")
    assert Settings(log_level="WARNING").log_level == "warning"
    with pytest.raises(ValidationError):
        Settings(log_level="verbose")


def test_logpush_destination_is_checked_at_start_and_never_echoed(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from kumo.cli import main

    monkeypatch.chdir(tmp_path)
    assert Settings(gateway_logpush_destination="r2://logs/{DATE}").gateway_logpush_destination == "r2://logs/{DATE}"
    for value, why in (("ftp://logs.example/x?password=sekrit", "r2://<bucket>/<path> or https://"),
                       ("r2://logs/x?secret-access-key=sekrit", "no account id or credentials")):
        result = CliRunner().invoke(main, ["serve", "--port", "0"], env={"KUMO_GATEWAY_LOGPUSH_DESTINATION": value})
        assert result.exit_code == 2, result.output
        assert "KUMO_GATEWAY_LOGPUSH_DESTINATION" in result.output and why in result.output
        assert "sekrit" not in result.output and "Traceback" not in result.output
