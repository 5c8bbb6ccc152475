"""Dashboard sessions as signed cookies: `<payload>.<HMAC-SHA256>`, the payload naming the API token by a keyed
fingerprint (never the token itself), a CSRF secret and an expiry. Nothing is kept on the server, so every node
that shares the key (`KUMO_DASHBOARD_SECRET`, else a random key in the data dir) accepts the cookie; removing a
token from the configuration ends its sessions. Sign-out deletes the cookie."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kumo.config import TokenGrant

COOKIE = "kumo_session"
LIFETIME = 8 * 3600  # seconds
DEV = "dev"  # the grant of a kumo with no tokens configured (loopback dev mode)


@dataclass(frozen=True)
class Session:
    grant: str  # token fingerprint, or DEV
    csrf: str
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionKeys:
    def __init__(self, secret: bytes):
        self._sign = hmac.new(secret, b"kumo dashboard session", hashlib.sha256).digest()
        self._fingerprint = hmac.new(secret, b"kumo dashboard token", hashlib.sha256).digest()

    @classmethod
    def load(cls, configured: str | None, data_dir: Path) -> SessionKeys:
        if configured:
            return cls(configured.encode())
        path = data_dir / "dashboard-secret"
        if not path.exists():
            # written whole under another name, then linked into place: a reader never sees a half-written key,
            # and of two first starts racing, both end up with the one that was linked first
            draft = path.with_name(f".dashboard-secret.{os.getpid()}.{secrets.token_hex(4)}")
            fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(secrets.token_bytes(32))
                    f.flush()
                    os.fsync(f.fileno())
                try:
                    os.link(draft, path)
                except FileExistsError:
                    pass
            finally:
                draft.unlink(missing_ok=True)
        return cls(path.read_bytes())

    def fingerprint(self, token: str) -> str:
        return hmac.new(self._fingerprint, token.encode(), hashlib.sha256).hexdigest()[:32]

    def issue(self, grant: str, now: float | None = None) -> tuple[str, Session]:
        session = Session(grant, secrets.token_urlsafe(24), int((now or time.time()) + LIFETIME))
        payload = _b64(json.dumps({"g": session.grant, "c": session.csrf, "e": session.expires}).encode())
        return f"{payload}.{self._mac(payload)}", session

    def read(self, cookie: str | None, now: float | None = None) -> Session | None:
        if not cookie or cookie.count(".") != 1:
            return None
        payload, mac = cookie.split(".")
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
            session = Session(str(data["g"]), str(data["c"]), int(data["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > (now or time.time()) else None

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._sign, payload.encode(), hashlib.sha256).digest())

    def grant_of(self, session: Session, grants: Sequence[TokenGrant]) -> TokenGrant | None:
        """The configured grant a session stands for (None if that token is no longer configured)."""
        if not grants:
            return TokenGrant(token="", accounts=[]) if session.grant == DEV else None
        for grant in grants:
            if hmac.compare_digest(self.fingerprint(grant.token), session.grant):
                return grant
        return None

    def check_csrf(self, session: Session, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(session.csrf.encode(), str(presented).encode())
