"""HTTP headers kumo reads or writes by hand. Numbers carried in headers (`cf-aig-cache-ttl`,
`cf-aig-request-timeout`...) and the step configs that mirror them: one parser, so `inf`, `1e400`, `NaN`,
5,000 digits or `1_000` are a 400 naming the header everywhere. File names in Content-Disposition."""

from __future__ import annotations

import math
import re
from urllib.parse import quote

from kumo.errors import InvalidRequest

_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_MAX_CHARS = 32  # no bound a header states needs more; longer text is never a number we accept


def header_int(value: str, name: str, low: int, high: int, *, code: int = 10001) -> int:
    """A whole number from `low` to `high`. Decimals are cut toward zero (`1500.7` ms is 1500), as before."""
    text = value.strip()
    number = float(text) if len(text) <= _MAX_CHARS and _DECIMAL.fullmatch(text) else math.nan
    if not math.isfinite(number):
        raise InvalidRequest(f"{name} must be a number", code=code)
    if not low <= number <= high:
        raise InvalidRequest(f"{name} must be from {low} to {high}", code=code)
    return int(number)


_ATTR_CHARS = "!#$&+-.^_`|~"  # RFC 5987 attr-char besides letters and digits: left as is in filename*


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """A Content-Disposition for any file name (RFC 6266): an ASCII `filename` every client reads, and for a name
    beyond ASCII the exact one as RFC 5987's `filename*` (HTTP headers are Latin-1: the raw name cannot go there)."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in filename)
    value = f'{disposition}; filename="{fallback}"'
    if fallback != filename:
        value += "; filename*=UTF-8''" + quote(filename, safe=_ATTR_CHARS)
    return value
