"""Pieces every product's routes use: the account-scoped router with auth, and blocking calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from kumo.api.auth import authorize
from kumo.platform import Platform

T = TypeVar("T")


def platform_of(request: Request) -> Platform:
    return request.app.state.platform


async def require_account_access(request: Request, account_id: str) -> None:
    authorize(platform_of(request).settings.api_tokens, request.headers, account_id)


def account_router(prefix: str) -> APIRouter:
    """A router under `/client/v4/accounts/{account_id}` that checks credentials for that account."""
    return APIRouter(prefix="/client/v4/accounts/{account_id}" + prefix, dependencies=[Depends(require_account_access)])


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run service code (SQLite, numpy) off the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)
