"""The decision log of one request that may try several steps (the universal endpoint, /compat and its dynamic
routes): every step tried or skipped, why each one failed, and what the client got. Each call's log record carries
the trail as it stood when that call ended (kumo's `decisions` field of a log), so the request's last log holds it
all."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Trail:
    steps: list[dict[str, Any]] = field(default_factory=list)
    client: str | None = None  # what the client got, once known

    def add(self, step: Any, provider: str, model: str | None, result: str, reason: str | None = None,
            log_id: str | None = None) -> None:
        """`result`: answered, failed, skipped (its circuit is open) or not continued (it cannot carry on a broken
        answer)."""
        entry: dict[str, Any] = {"step": step, "provider": provider, "model": model, "result": result}
        if reason:
            entry["reason"] = reason
        if log_id:
            entry["log_id"] = log_id
        self.steps.append(entry)

    @property
    def last_reason(self) -> str | None:
        return next((s["reason"] for s in reversed(self.steps) if s.get("reason")), None)

    def snapshot(self) -> dict[str, Any]:
        return {"steps": [dict(s) for s in self.steps], "client": self.client}
