"""The dashboard's product pages. A product adds one module here exporting `PAGE` and one line to `MODULES`;
its position in `MODULES` is its place in the navigation."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from fastapi import APIRouter

MODULES = [
    "ai_gateway",
    "workers_ai",
    "vectorize",
    "ai_search",
]


@dataclass(frozen=True)
class Page:
    slug: str  # the URL segment: /dashboard/{account}/{slug}
    title: str  # the navigation label
    router: APIRouter
    summary: str = ""  # one line on the overview page


def page_router(slug: str) -> APIRouter:
    """A product's router for /dashboard/{account_id}/{slug}, every route guarded (see kumo.dashboard.guard)."""
    from kumo.dashboard.guard import DashboardRoute

    return APIRouter(prefix=f"/{{account_id}}/{slug}", route_class=DashboardRoute)  # under /dashboard


def _load() -> list[Page]:
    return [importlib.import_module(f"{__name__}.{name}").PAGE for name in MODULES]


PAGES: list[Page] = _load()
