"""`page` / `per_page` query parameters as Cloudflare's list APIs take them: integers, `page` from 1 (bounded, so a
page number of thousands of digits is a 400 rather than an integer no JSON encoder can write back)."""

from __future__ import annotations

from collections.abc import Mapping

from kumo.errors import InvalidRequest

MAX_PAGE = 1_000_000


def page_params(query: Mapping[str, str], per_page_default: int = 20, per_page_max: int = 100) -> tuple[int, int]:
    try:
        page = int(query.get("page", 1))
        per_page = int(query.get("per_page", per_page_default))
    except ValueError:
        raise InvalidRequest("`page` and `per_page` must be integers") from None
    if not 1 <= page <= MAX_PAGE or not 1 <= per_page <= per_page_max:
        raise InvalidRequest(f"`page` must be from 1 to {MAX_PAGE:,} and `per_page` from 1 to {per_page_max}")
    return page, per_page
