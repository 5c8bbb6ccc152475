"""A local folder as an instance's data source: kumo's stand-in for an R2 bucket. Keys are paths relative to
the folder (with `/`), filtered by `source_params.prefix`, `include_items` and `exclude_items` (micromatch-style
globs: `*` within a path segment, `**` across segments)."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from kumo.aisearch.errors import bad_config


@dataclass(frozen=True)
class SourceFile:
    key: str
    path: Path
    size: int
    mtime_ms: int


def source_id(folder: str) -> str:
    return f"r2:{folder}"


def check_folder(source: str, allowed_root: Path | None) -> str:
    """The absolute folder of a source, after checking it exists (and lies under `allowed_root` if given)."""
    folder = Path(source).expanduser()
    if not folder.is_absolute():
        raise bad_config(f"`source` must be an absolute folder path on the kumo server, got {source!r} "
                         "(the CLI resolves relative paths for you)")
    folder = folder.resolve()
    if not folder.is_dir():
        raise bad_config(f"`source` folder {str(folder)!r} does not exist on the kumo server")
    if allowed_root is not None:
        root = allowed_root.resolve()
        if folder != root and root not in folder.parents:
            raise bad_config(f"this kumo has API tokens configured, so folder sources must live under {root}; "
                             f"move or link {folder} there")
    return str(folder)


@lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _matches(key: str, patterns: list[str]) -> bool:
    return any(_glob(p.lstrip("/")).match(key) for p in patterns)


def wanted(key: str, params: dict[str, Any]) -> bool:
    prefix = (params.get("prefix") or "").lstrip("/")
    if prefix and not key.startswith(prefix):
        return False
    include, exclude = params.get("include_items") or [], params.get("exclude_items") or []
    if include and not _matches(key, include):
        return False
    return not (exclude and _matches(key, exclude))


def scan(folder: str, params: dict[str, Any]) -> list[SourceFile]:
    """Every file of the folder the source takes, hidden files and folders excepted, in key order."""
    root = Path(folder)
    if not root.is_dir():
        raise bad_config(f"the source folder {folder!r} no longer exists on the kumo server")
    found = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith("."):
                continue
            path = Path(directory) / name
            key = path.relative_to(root).as_posix()
            if not wanted(key, params):
                continue
            try:
                stat = path.stat()
            except OSError:
                continue  # vanished between listing and stat: the next sync sees it (or not)
            found.append(SourceFile(key, path, stat.st_size, int(stat.st_mtime * 1000)))
    return sorted(found, key=lambda f: f.key)


def read(file: SourceFile) -> tuple[bytes, str]:
    data = file.path.read_bytes()
    return data, hashlib.sha256(data).hexdigest()


def read_key(folder: str, key: str) -> bytes | None:
    """The bytes of the file behind `key`, or None if it is gone (or would resolve outside the folder)."""
    root = Path(folder).resolve()
    path = (root / key).resolve()
    if root not in path.parents:
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None
