"""mypy over src/ (configured in pyproject.toml's [tool.mypy]: strict on the modules listed there, which are fully
annotated, lenient elsewhere). A type error fails the suite with mypy's own lines. Its cache lives in
.mypy_cache (ignored by git), so a run after a small change takes seconds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_src_type_checks():
    result = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", "--hide-error-context"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
