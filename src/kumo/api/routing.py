"""Pieces every product's routes use: the account-scoped router with auth.

It knows no product: the app puts the API tokens on `app.state.api_tokens`, and routes reach their
services through `kumo.platform.platform_of`."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, Request

from kumo.api.auth import authorize, presented_secret
from kumo.config import TokenGrant


def api_tokens_of(request: Request) -> list[TokenGrant]:
    return request.app.state.api_tokens


def grant_of(request: Request) -> TokenGrant | None:
    """The token the request came with (already checked for the account); None in dev mode (no tokens)."""
    grants = api_tokens_of(request)
    secret = presented_secret(request.headers)
    if not grants or secret is None:
        return None
    return next((g for g in grants if hmac.compare_digest(g.token.encode(), secret.encode())), None)


async def require_account_access(request: Request, account_id: str) -> None:
    authorize(api_tokens_of(request), request.headers, account_id)


def account_router(prefix: str) -> APIRouter:
    """A router under `/client/v4/accounts/{account_id}` that checks credentials for that account."""
    return APIRouter(prefix="/client/v4/accounts/{account_id}" + prefix, dependencies=[Depends(require_account_access)])
