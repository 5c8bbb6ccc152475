"""Binding sessions: which account a Worker's binding traffic acts for, and which Vectorize index each of its
`vectorize` bindings names (the index appears only in the preview upload, never in a binding request).

A session is a signed, self-contained token rather than a row: binding traffic keeps working across a kumo
restart and on every node sharing the same API tokens. The key is derived from the configured API tokens, so a
token can only be minted by someone allowed to call the preview API, and rotating the API tokens revokes every
session. With no API tokens (loopback dev mode) the key is fixed, as any credential is accepted there anyway."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from kumo.config import TokenGrant

MAX_TOKEN_CHARS = 8192


@dataclass(frozen=True)
class BindingSession:
    account: str
    indexes: dict[str, str] = field(default_factory=dict)  # binding name -> Vectorize index name


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    def __init__(self, grants: Sequence[TokenGrant]):
        material = b"\0".join(sorted(g.token.encode() for g in grants))
        self._key = hashlib.sha256(b"kumo workers binding session\0" + material).digest()

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def mint(self, session: BindingSession) -> str:
        payload = json.dumps({"a": session.account, "i": session.indexes}, separators=(",", ":"),
                             sort_keys=True).encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def open(self, token: str | None) -> BindingSession | None:
        """The session a token stands for, or None when it is missing, malformed or not signed by this kumo."""
        if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
            return None
        body, _, mac = token.partition(".")
        try:
            payload, signature = _unb64(body), _unb64(mac)
        except (ValueError, TypeError):
            return None
        if not hmac.compare_digest(signature, self._mac(payload)):
            return None
        data = json.loads(payload)
        return BindingSession(account=data["a"], indexes=dict(data["i"]))
