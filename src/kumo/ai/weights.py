"""Where a model's real weights are: a Python package that ships them, or a directory under
`<data_dir>/models/` filled by `kumo models pull` (a hub download with a progress bar) or by hand."""

from __future__ import annotations

import functools
import importlib.util
import shutil
from pathlib import Path

from kumo.ai.catalog import ModelEntry
from kumo.errors import InvalidRequest, ServiceUnavailable

COMPLETE_MARKER = ".kumo-complete"


@functools.lru_cache(maxsize=None)  # installed packages do not change under a running process
def package_dir(spec: str) -> Path | None:
    """`pkg` or `pkg/sub/dir` -> the installed directory, found without importing the package."""
    name, _, sub = spec.partition("/")
    found = importlib.util.find_spec(name)
    if found is None or not found.submodule_search_locations:
        return None
    root = Path(list(found.submodule_search_locations)[0])
    path = root / sub if sub else root
    return path if path.exists() else None


class WeightsStore:
    def __init__(self, models_dir: Path):
        self.models_dir = models_dir

    def local_dir(self, entry: ModelEntry) -> Path:
        return self.models_dir / entry.slug

    def locate(self, entry: ModelEntry) -> Path | None:
        """The directory holding the model's weights, or None when they are not here."""
        local = self.local_dir(entry)
        if (local / COMPLETE_MARKER).exists():
            return local
        package = entry.weights.get("package")
        if package:
            return package_dir(package)
        if entry.runtime == "remote":
            return self.models_dir  # weights live on the remote server
        return None

    def source(self, entry: ModelEntry) -> str:
        if (self.local_dir(entry) / COMPLETE_MARKER).exists():
            return "pulled"
        if entry.weights.get("package") and package_dir(entry.weights["package"]):
            return "package"
        if entry.runtime == "remote":
            return "remote"
        return "absent"

    def pull(self, entry: ModelEntry) -> Path:
        """Download the model's weights from its hub repository (progress bars on the terminal)."""
        repo = entry.weights.get("hub")
        if not repo:
            raise InvalidRequest(f"{entry.name} has no hub repository to pull from; its weights ship in a package")
        try:
            from huggingface_hub import snapshot_download
        except ImportError:  # pragma: no cover - a dependency of faster-whisper
            raise ServiceUnavailable("pulling models needs `huggingface_hub` (pip install huggingface_hub)") from None
        target = self.local_dir(entry)
        partial = target.with_name(target.name + ".partial")
        partial.mkdir(parents=True, exist_ok=True)
        try:
            snapshot_download(repo_id=repo, allow_patterns=entry.weights.get("files") or None, local_dir=partial)
        except Exception as exc:
            shutil.rmtree(partial, ignore_errors=True)
            raise ServiceUnavailable(
                f"could not download {entry.name} from the Hugging Face Hub repository {repo}: {exc}. "
                f"Is this machine online? You can also copy the files of {repo} into {target} by hand and "
                f"create an empty file named {COMPLETE_MARKER} there."
            ) from None
        if target.exists():
            shutil.rmtree(target)
        partial.rename(target)
        (target / COMPLETE_MARKER).touch()
        return target

    def remove(self, entry: ModelEntry) -> bool:
        target = self.local_dir(entry)
        if not target.exists():
            return False
        shutil.rmtree(target)
        return True
