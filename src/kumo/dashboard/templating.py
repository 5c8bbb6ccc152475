"""Jinja2 pages: one environment per process (templates are read-only), autoescaped; every page gets the
visitor (account, CSRF token, switcher) and the product navigation from the page registry."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

TEMPLATES = Path(__file__).with_name("templates")


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = number
    env.filters["money"] = lambda v: "" if v is None else f"${v:,.6f}".rstrip("0").rstrip(".") if v else "$0"
    env.filters["ms"] = lambda v: "" if v is None else f"{v:,.0f} ms"
    env.filters["pct"] = lambda v: f"{100 * v:.1f}%"
    env.filters["svg"] = Markup  # charts are built by kumo.dashboard.charts, which escapes every text it draws
    return env


def number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def render(request: Request, template: str, visitor: Any, status: int = 200, **context: Any) -> HTMLResponse:
    from kumo.dashboard.pages import PAGES

    html = environment().get_template(template).render(
        request=request, visitor=visitor, products=PAGES, path=request.url.path, **context)
    return HTMLResponse(html, status_code=status)
