"""Cloudflare-style API authentication for `/client/v4/accounts/{account_id}/...`.

Accepts `Authorization: Bearer <token>`, `X-Auth-Email` + `X-Auth-Key`, or `X-Auth-User-Service-Key`,
as the official SDK sends them. With no tokens configured (loopback dev mode, like LocalStack) any
credential is accepted; with tokens configured a wrong one is 401 and a token limited to other
accounts is 403. Secrets are compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence

from kumo.config import TokenGrant
from kumo.errors import AuthenticationError, PermissionDenied

MISSING_CREDENTIALS = 9106
AUTHENTICATION_ERROR = 10000


def presented_secret(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        raise AuthenticationError(
            "Authorization header must be `Bearer <api token>`.", code=AUTHENTICATION_ERROR
        )
    key = headers.get("x-auth-key")
    if key:
        if not headers.get("x-auth-email"):
            raise AuthenticationError("X-Auth-Key needs X-Auth-Email beside it.", code=MISSING_CREDENTIALS)
        return key
    service_key = headers.get("x-auth-user-service-key")
    if service_key:
        return service_key
    return None


def authorize(grants: Sequence[TokenGrant], headers: Mapping[str, str], account_id: str) -> None:
    """Raise unless the request's credentials may act on `account_id`."""
    secret = presented_secret(headers)
    if secret is None:
        raise AuthenticationError(
            "Missing X-Auth-Key, X-Auth-Email or Authorization headers", code=MISSING_CREDENTIALS
        )
    if not grants:
        return  # dev mode: no tokens configured, bound to loopback
    encoded = secret.encode()
    for grant in grants:
        if hmac.compare_digest(grant.token.encode(), encoded):
            if grant.allows(account_id):
                return
            raise PermissionDenied(
                f"Authentication error: this API token is not allowed to access account {account_id}.",
                code=AUTHENTICATION_ERROR,
            )
    raise AuthenticationError("Authentication error: unknown API token.", code=AUTHENTICATION_ERROR)


def authorize_operator(grants: Sequence[TokenGrant], headers: Mapping[str, str], *, every_account: bool) -> None:
    """Raise unless the request carries a configured token; for what covers every account (`every_account`, e.g.
    server-wide metrics) the token must not be limited to some accounts."""
    secret = presented_secret(headers)
    if secret is None:
        raise AuthenticationError(
            "Missing X-Auth-Key, X-Auth-Email or Authorization headers", code=MISSING_CREDENTIALS
        )
    if not grants:
        return
    encoded = secret.encode()
    for grant in grants:
        if hmac.compare_digest(grant.token.encode(), encoded):
            if every_account and grant.accounts:
                raise PermissionDenied(
                    "Authentication error: this page covers every account; it needs a token not limited to accounts.",
                    code=AUTHENTICATION_ERROR,
                )
            return
    raise AuthenticationError("Authentication error: unknown API token.", code=AUTHENTICATION_ERROR)
