"""mypy over src/ (configured in pyproject.toml's [tool.mypy]: strict on the modules listed there, which are fully
annotated, lenient elsewhere). A type error fails the suite with mypy's own lines. Its cache lives in
.mypy_cache (ignored by git), so a run after a small change takes seconds."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_src_type_checks():
    result = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", "--hide-error-context"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr



def test_strict_list_names_modules_that_exist():
    """mypy passes over an override for a module that is gone (renamed, say): the list would quietly shrink."""
    overrides = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["overrides"]
    listed = {m for override in overrides for m in override["module"]}
    present = set()
    for path in (ROOT / "src" / "kumo").rglob("*.py"):
        parts = path.relative_to(ROOT / "src").with_suffix("").parts
        present.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    assert not listed - present, f"pyproject.toml's [tool.mypy] lists modules that are gone: {sorted(listed - present)}"
