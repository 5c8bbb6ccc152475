"""Which error shape a path answers in. Cloudflare's v4 envelope is the default; a product whose clients read
another shape (OpenAI's error object on `/ai/v1`, the gateway's own on `/v1`) registers it here, so every error
on its paths — a 404 from routing, a 401, a 413, an unexpected exception — reaches its clients as they expect."""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.responses import Response

from kumo.api.envelope import from_error
from kumo.errors import KumoError

Render = Callable[[KumoError], Response]


class ErrorShapes:
    def __init__(self) -> None:
        self._shapes: list[tuple[re.Pattern[str], Render]] = []

    def register(self, path_pattern: str, render: Render) -> None:
        """`path_pattern` is a regular expression matched at the start of the path; the first match wins."""
        self._shapes.append((re.compile(path_pattern), render))

    def render(self, path: str, error: KumoError) -> Response:
        for pattern, render in self._shapes:
            if pattern.match(path):
                return render(error)
        return from_error(error)
