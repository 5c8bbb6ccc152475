"""Timestamps as kumo writes them on the wire and in its stores: ISO 8601 in UTC ending in `Z`, as Cloudflare's
APIs do (`2026-01-02T03:04:05.678Z`), so stamps of one precision also compare as strings."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

Precision = Literal["seconds", "milliseconds", "microseconds"]


def iso(moment: datetime, precision: Precision = "milliseconds") -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec=precision).replace("+00:00", "Z")


def iso_now(precision: Precision = "milliseconds") -> str:
    return iso(datetime.now(timezone.utc), precision)


def iso_from_epoch(seconds: float, precision: Precision = "milliseconds") -> str:
    return iso(datetime.fromtimestamp(seconds, timezone.utc), precision)


def parse_iso(text: str) -> datetime:
    """An ISO 8601 timestamp (`Z` or an offset); ValueError if it is not one."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
