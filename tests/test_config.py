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
