from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def asset(name: str) -> bytes:
    spec = importlib.util.find_spec("moonshine_voice")
    assert spec and spec.submodule_search_locations, "moonshine-voice (test audio) is installed by make install"
    return (Path(list(spec.submodule_search_locations)[0]) / "assets" / name).read_bytes()


@pytest.fixture(scope="session")
def speech() -> bytes:
    """10 s of real speech, 16 kHz WAV: 'Ever tried. Ever failed. No matter. Try again. Fail again. Fail better.'"""
    return asset("beckett.wav")


@pytest.fixture
def ai_url(server, account) -> str:
    return f"{server.url}/client/v4/accounts/{account}/ai"
