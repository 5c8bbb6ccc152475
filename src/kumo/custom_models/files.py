"""Model files on local disk, fetched from R2 once: named by account, model, version and ETag, and bounded by
bytes. When a new file pushes the total over the bound, the least recently used others go (a file being
loaded is never one of them); an evicted version is fetched from R2 again the next time it must load."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STAGING = ".staging"


def _dir_name(*parts: str) -> str:
    """A file-system-safe, collision-free directory name for (account, model, version)."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


class ModelFiles:
    def __init__(self, root: Path, max_bytes: int):
        self.root = root
        self.max_bytes = max_bytes
        self._in_use: Counter[Path] = Counter()
        self._lock = threading.Lock()

    def path(self, account: str, name: str, version: str, etag: str, suffix: str) -> Path:
        return self.root / _dir_name(account, name, version) / f"{etag}{suffix}"

    def staging(self) -> Path:
        """A fresh directory per attempt, so concurrent downloads never meet."""
        where = self.root / STAGING / uuid.uuid4().hex
        where.mkdir(parents=True, exist_ok=True)
        return where

    @contextmanager
    def using(self, path: Path) -> Iterator[Path]:
        """Keep `path` from eviction while it is checked and loaded; it counts as just used."""
        with self._lock:
            self._in_use[path] += 1
        try:
            if path.exists():
                os.utime(path)
            yield path
        finally:
            with self._lock:
                self._in_use[path] -= 1
                if not self._in_use[path]:
                    del self._in_use[path]

    def _files(self) -> list[tuple[float, int, Path]]:
        found = []
        for directory in self.root.iterdir() if self.root.exists() else ():
            if directory.name == STAGING or not directory.is_dir():
                continue
            for file in directory.iterdir():
                try:
                    stat = file.stat()
                except FileNotFoundError:  # evicted or replaced meanwhile
                    continue
                found.append((stat.st_mtime, stat.st_size, file))
        return found

    def bytes(self) -> int:
        return sum(size for _, size, _ in self._files())

    def added(self, path: Path) -> None:
        """A file was just written at `path`: make room under the bound by evicting the least recently used
        others (the new one stays, even alone over the bound)."""
        with self._lock:
            files = sorted(self._files())
            total = sum(size for _, size, _ in files)
            for _, size, file in files:
                if total <= self.max_bytes:
                    break
                if file == path or file in self._in_use:
                    continue
                file.unlink(missing_ok=True)
                total -= size
                if not any(p.parent == file.parent for p in self._in_use):  # a download may be heading there
                    try:
                        file.parent.rmdir()
                    except OSError:  # another file of the version (an older ETag) is still there
                        pass
