"""What a custom model and its versions are, and the rules on their names."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from kumo.custom_models import PREFIX
from kumo.errors import InvalidRequest, KumoError

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


class Conflict(KumoError):
    """The registry's state forbids it: a version that exists, one still served, nothing to roll back to."""
    status = 409
    code = 10022


@dataclass(frozen=True)
class ModelVersion:
    name: str  # without the prefix
    version: str
    format: str
    bucket: str
    key: str
    etag: str
    size: int
    trusted: bool
    signature: dict[str, Any] = field(default_factory=dict)
    created: str = ""

    def describe(self, served: str | None = None) -> dict[str, Any]:
        return {"model": PREFIX + self.name, "version": self.version, "format": self.format,
                "source": f"r2://{self.bucket}/{self.key}", "etag": self.etag, "size": self.size,
                "trusted": self.trusted, "features": self.signature.get("features"),
                "n_features": self.signature.get("n_features"), "classes": self.signature.get("classes"),
                "created_on": self.created, "served": served == self.version}


@dataclass(frozen=True)
class CustomModel:
    name: str
    served: str
    history: list[str]
    created: str
    split: dict[str, int] | None = None  # version -> weight while traffic is split
    shadow: str | None = None  # gets a copy of every call; its answers are recorded, never returned

    def version_for(self, caller_key: str | None, draw: float) -> str:
        """The version a call goes to: the served one, or under a split the one the caller's key hashes to
        (so one caller always sees one version); a call without a key uses `draw` (uniform in [0, 1))."""
        split = self.split
        if not split:
            return self.served
        total = sum(split.values())
        if caller_key is not None:
            digest = hashlib.sha256(f"{self.name}\0{caller_key}".encode()).digest()
            draw = int.from_bytes(digest[:8], "big") / 2**64
        point = draw * total
        for version, weight in sorted(split.items()):
            if point < weight:
                return version
            point -= weight
        return max(split, key=lambda version: split[version])


def model_name(raw: str) -> str:
    """`@custom/churn` or `churn` -> `churn`; anything else is refused."""
    name = raw[len(PREFIX):] if raw.startswith(PREFIX) else raw
    if not _NAME.fullmatch(name):
        raise InvalidRequest(f"model name {raw!r}: use {PREFIX}<name>, the name 1-63 characters of lowercase "
                             "letters, digits, '.', '_' or '-'", code=10021)
    return name


def version_name(raw: Any) -> str:
    if not isinstance(raw, str) or not _VERSION.fullmatch(raw):
        raise InvalidRequest(f"version {raw!r}: 1-63 characters of letters, digits, '.', '_' or '-'", code=10021)
    return raw
