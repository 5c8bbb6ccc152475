"""R2's S3 credentials from kumo's API tokens, by R2's rule: the Access Key ID is the token's id and the
Secret Access Key is the SHA-256 (hex) of the token's value. A token's id is `id` when the operator gave
one, else derived from the value one-way (it reveals nothing of the value or of the secret key)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from kumo.config import TokenGrant

_ID_SALT = b"kumo api token id\x00"


def token_id(grant: TokenGrant) -> str:
    explicit = getattr(grant, "id", None)
    if explicit:
        return explicit
    return hashlib.sha256(_ID_SALT + grant.token.encode()).hexdigest()[:32]


def secret_access_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def s3_credentials(token: str, grant_id: str | None = None) -> tuple[str, str]:
    """(Access Key ID, Secret Access Key) for a token value."""
    return token_id(TokenGrant(token=token, id=grant_id) if grant_id else TokenGrant(token=token)), \
        secret_access_key(token)


def grant_for_access_key(grants: Sequence[TokenGrant], access_key: str) -> TokenGrant | None:
    for grant in grants:
        if hmac.compare_digest(token_id(grant).encode(), access_key.encode()):
            return grant
    return None


READING_METHODS = ("GET", "HEAD")


def check_scope(grant: TokenGrant | None, method: str, bucket: str, *, writes: bool | None = None) -> None:
    """A token's R2 scopes (`r2_read_only`, `r2_buckets`): raise AccessDenied for what they do not allow.
    `bucket` "" is an account-level call (listing or creating buckets); `writes` overrides the method's verdict."""
    from kumo.r2.errors import AccessDenied

    if grant is None:
        return  # dev mode
    writing = method not in READING_METHODS if writes is None else writes
    if grant.r2_read_only and writing:
        raise AccessDenied("Access Denied: this token may only read R2 objects and buckets.")
    if grant.r2_buckets:
        if not bucket and writing:
            raise AccessDenied("Access Denied: this token is limited to some buckets and may not create buckets.")
        if bucket and bucket not in grant.r2_buckets:
            raise AccessDenied(f"Access Denied: this token may not access bucket {bucket}.")


def visible_buckets(grant: TokenGrant | None, names: list) -> list:
    """Of these buckets (anything with `.name`), those a token limited to buckets may see."""
    if grant is None or not grant.r2_buckets:
        return names
    return [b for b in names if b.name in grant.r2_buckets]
