"""Who may make an S3 request: SigV4 verified against kumo's API tokens (R2's credential rule, see
r2/credentials.py), a token limited to accounts stays limited. With no tokens configured (dev mode, loopback
only) any credentials, or none, are accepted without checking the signature: kumo cannot know the secret."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from dataclasses import dataclass
from urllib.parse import unquote

from kumo.config import TokenGrant
from kumo.r2 import errors
from kumo.r2.credentials import grant_for_access_key, secret_access_key
from kumo.r2.s3 import sigv4


@dataclass(frozen=True)
class Authorized:
    claim: sigv4.SignedRequest | None  # None: an anonymous request in dev mode
    signing_key: bytes | None  # None in dev mode: chunk signatures are not checked either
    grant: TokenGrant | None = None  # None in dev mode; its R2 scopes apply (r2/credentials.py check_scope)


def authorize(grants: Sequence[TokenGrant], scope: Mapping[str, Any], headers: dict[str, str], query: list[tuple[str, str]],
              account: str) -> Authorized:
    claim = sigv4.parse(headers, query)
    if not grants:
        return Authorized(claim, None)
    if claim is None:
        raise errors.AccessDenied("Access Denied: this kumo requires AWS Signature Version 4 credentials made from "
                                  "an API token.")
    if claim.service != "s3":
        raise errors.SignatureDoesNotMatch(f"The credential scope names service {claim.service!r}; expected 's3'.")
    grant = grant_for_access_key(grants, claim.access_key)
    if grant is None:
        raise errors.InvalidAccessKeyId("The AWS Access Key Id you provided does not exist in our records.",
                                        AWSAccessKeyId=claim.access_key)
    sigv4.check_time(claim)
    raw_path = scope.get("raw_path") or scope["path"].encode()
    key = sigv4.verify(claim, secret_access_key(grant.token), scope["method"], raw_path.decode("latin-1"), query,
                       scope["headers"])
    if not grant.allows(account):
        raise errors.AccessDenied(f"Access Denied: this token may not access account {account}.")
    return Authorized(claim, key, grant)


def parse_query(raw: bytes) -> list[tuple[str, str]]:
    """The query string as (name, value) pairs, percent-decoded (a '+' stays a '+', as in SigV4)."""
    pairs = []
    for item in raw.decode("latin-1").split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        try:
            pairs.append((unquote(name, errors="strict"), unquote(value, errors="strict")))
        except UnicodeDecodeError:
            raise errors.InvalidArgument("The query string is not valid UTF-8 once decoded.") from None
    return pairs
