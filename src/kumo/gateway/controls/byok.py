"""Stored provider keys (BYOK), as Cloudflare's provider keys API has them: an admin stores a provider key once per
gateway, provider and alias; for callers the gateway authenticated (`cf-aig-authorization`) the stored key takes the
place of whatever key (or stand-in value) they send, in the provider's own header (`cf-aig-byok-alias` picks an
alias); anonymous callers never spend it. `byok_only` makes every call use a stored key.

Keys are encrypted with AES-GCM under a key-encryption key that never reaches the database: from
KUMO_GATEWAY_KEY_ENCRYPTION_KEY, from the file KUMO_GATEWAY_KEY_ENCRYPTION_KEY_FILE (mode 0600), or, embedded
only, a file kumo makes in its data dir. The API shows a preview (last 4 characters), never the key. Nodes re-read
keys every `ttl` seconds, so a rotation reaches every node within seconds."""

from __future__ import annotations

import base64
import os
import stat
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kumo.api.auth import authorize
from kumo.errors import InvalidRequest, KumoError, NotFound
from kumo.gateway.errors import UNAUTHORIZED, GatewayError
from kumo.gateway.providers import PROVIDERS
from kumo.timestamps import iso_now

if TYPE_CHECKING:
    from kumo.gateway.pipeline import Call

UNKNOWN_ALIAS = 2040  # HTTP 400
KEY_NOT_FOUND = 7006  # management API: kumo's code
ALIAS_HEADER = "cf-aig-byok-alias"
# signed per request (SigV4), not a static key: a stored key cannot stand in for it
UNSTORABLE = {"aws-bedrock"}


class KeyEncryptionKeyMissing(InvalidRequest):
    pass


def load_kek(secret: str | None, path: Path | None, data_dir: Path, shared: bool) -> bytes:
    """The 32-byte key-encryption key. Raises KeyEncryptionKeyMissing (a 400 naming the settings)."""
    if secret:
        raw = secret.encode()
    elif path is not None:
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            raise KeyEncryptionKeyMissing(f"KUMO_GATEWAY_KEY_ENCRYPTION_KEY_FILE {path}: {exc.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyEncryptionKeyMissing(f"KUMO_GATEWAY_KEY_ENCRYPTION_KEY_FILE {path} must be readable by its owner "
                                          "only (chmod 600)")
        raw = path.read_bytes().strip()
    elif shared:
        raise KeyEncryptionKeyMissing("storing provider keys on nodes that share a database needs the same "
                                      "KUMO_GATEWAY_KEY_ENCRYPTION_KEY (or _FILE, mode 0600) on every node")
    else:
        path = data_dir / "provider-keys.kek"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(base64.b64encode(os.urandom(32)))
        except FileExistsError:
            pass
        raw = path.read_bytes().strip()
    if len(raw) < 32:
        raise KeyEncryptionKeyMissing("the key-encryption key must be at least 32 characters (e.g. `openssl rand "
                                      "-base64 32`)")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"kumo gateway provider keys").derive(raw)



def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "account_id": row["account"], "account_tag": row["account"],
            "gateway_id": row["gateway"], "provider_slug": row["provider_slug"], "alias": row["alias"],
            "default_config": row["default_config"], "secret_id": row["id"], "secret_preview": row["secret_preview"],
            "rate_limit": row["rate_limit"], "rate_limit_period": row["rate_limit_period"],
            "modified_at": row["modified_at"]}


class ProviderKeys:
    """The provider keys API (knows no HTTP) and the keys a call may spend."""

    def __init__(self, store, kek_source, *, ttl: float | None = None):
        self.store = store
        self._kek_source = kek_source  # () -> bytes; called when a key is first stored or read
        self._kek: bytes | None = None
        self.ttl = ttl  # None: one process sees every change itself
        self._cache: dict[tuple[str, str], tuple[dict[tuple[str, str], dict[str, Any]], float]] = {}
        self._lock = threading.Lock()

    def _aead(self) -> AESGCM:
        if self._kek is None:
            self._kek = self._kek_source()
        return AESGCM(self._kek)

    @staticmethod
    def _context(account: str, gateway: str, slug: str, alias: str) -> bytes:
        # binds a ciphertext to its row: copied to another gateway, provider or alias it does not decrypt
        return f"{account}\x00{gateway}\x00{slug}\x00{alias}".encode()

    # ---- the API --------------------------------------------------------------------------------
    def create(self, account: str, gateway: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise InvalidRequest("send {provider_slug, alias, default_config, secret}")
        slug, alias, secret = body.get("provider_slug"), body.get("alias", "default"), body.get("secret")
        if slug not in PROVIDERS:
            raise InvalidRequest(f"`provider_slug` must be one of {', '.join(sorted(PROVIDERS))}")
        if slug in UNSTORABLE:
            raise InvalidRequest(f"`provider_slug` {slug}: its requests are signed per request (AWS SigV4); kumo "
                                 "cannot store a key that stands in for that signature")
        if not isinstance(alias, str) or not alias or len(alias) > 64 or not alias.replace("-", "").replace("_", "").isalnum():
            raise InvalidRequest("`alias` must be 1-64 letters, digits, '-' or '_'")
        if body.get("secret_id") is not None:
            raise InvalidRequest("`secret_id` refers to Cloudflare's Secrets Store, which kumo does not have: send "
                                 "the key itself as `secret` (kumo encrypts it)")
        if not isinstance(secret, str) or not secret.strip() or len(secret) > 8192 or "\n" in secret:
            raise InvalidRequest("`secret` must be the provider's API key (one line, at most 8192 characters)")
        default = body.get("default_config", alias == "default")
        if not isinstance(default, bool):
            raise InvalidRequest("`default_config` must be true or false")
        rate_limit, period = body.get("rate_limit"), body.get("rate_limit_period")
        for name, value in (("rate_limit", rate_limit), ("rate_limit_period", period)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 1):
                raise InvalidRequest(f"`{name}` must be a number ≥ 1")
        if (rate_limit is None) != (period is None):
            raise InvalidRequest("`rate_limit` and `rate_limit_period` go together: set both or neither")
        secret = secret.strip()
        nonce = os.urandom(12)
        sealed = nonce + self._aead().encrypt(nonce, secret.encode(), self._context(account, gateway, slug, alias))
        row = self.store.save({
            "id": uuid.uuid4().hex, "account": account, "gateway": gateway, "provider_slug": slug, "alias": alias,
            "default_config": default, "ciphertext": base64.b64encode(sealed).decode(),
            "secret_preview": "****" + secret[-4:] if len(secret) > 8 else "****",
            "rate_limit": rate_limit, "rate_limit_period": period, "modified_at": iso_now()})
        self.forget(account, gateway)
        return _public(row)

    def list(self, account: str, gateway: str) -> list[dict[str, Any]]:
        return [_public(r) for r in self.store.list(account, gateway)]

    def delete(self, account: str, gateway: str, key_id: str) -> dict[str, Any]:
        rows = {r["id"]: r for r in self.store.list(account, gateway)}
        if key_id not in rows or not self.store.delete(account, gateway, key_id):
            raise NotFound(f"no provider key {key_id!r} in gateway {gateway!r}", code=KEY_NOT_FOUND)
        self.forget(account, gateway)
        return _public(rows[key_id])

    def forget(self, account: str, gateway: str) -> None:
        with self._lock:
            self._cache.pop((account, gateway), None)

    # ---- the data plane ----------------------------------------------------------------------------
    def fresh(self, account: str, gateway: str) -> dict[tuple[str, str], dict[str, Any]] | None:
        """The keys if this node read them recently enough (no database call), else None."""
        with self._lock:
            cached = self._cache.get((account, gateway))
        if cached is not None and (self.ttl is None or cached[1] > time.monotonic()):
            return cached[0]
        return None

    def keys(self, account: str, gateway: str) -> dict[tuple[str, str], dict[str, Any]]:
        """(provider, alias) -> {key, id, default, rate_limit, rate_limit_period}; decrypted, kept in memory."""
        cached = self.fresh(account, gateway)
        if cached is not None:
            return cached
        rows = self.store.list(account, gateway)
        out = {}
        for r in rows:
            sealed = base64.b64decode(r["ciphertext"])
            try:
                key = self._aead().decrypt(sealed[:12], sealed[12:], self._context(account, gateway,
                                                                                  r["provider_slug"], r["alias"]))
            except InvalidTag:  # another key-encryption key: unusable here, and said without the key
                continue
            out[(r["provider_slug"], r["alias"])] = {"key": key.decode(), "id": r["id"], "default": r["default_config"],
                                                     "rate_limit": r["rate_limit"], "period": r["rate_limit_period"]}
        with self._lock:
            self._cache[(account, gateway)] = (out, time.monotonic() + (self.ttl or 0))
        return out


def has_credential(c: Call) -> bool:
    for name in c.provider.credential_headers:
        value = c.headers.get(name, "").strip()
        if value.lower().startswith("bearer"):
            value = value[6:].strip()
        if value:
            return True
    return False


def wants_stored_key(c: Call) -> bool:
    """Whether a stored key may serve this call (cheap: no lookup for anonymous callers with their own key)."""
    return (ALIAS_HEADER in c.headers or bool(c.gateway.get("byok_only")) or "cf-aig-authorization" in c.headers
            or not has_credential(c))


def stored_key_for(keys: dict[tuple[str, str], dict[str, Any]], c: Call) -> dict[str, Any] | None:
    """The stored key for this call's provider (the alias asked for, else the default), or None. Raises a gateway
    error when the call asks for one the gateway does not have."""
    alias = c.headers.get(ALIAS_HEADER)
    slug = c.provider.slug
    if alias is not None:
        entry = keys.get((slug, alias))
        if entry is None:
            raise GatewayError(400, UNKNOWN_ALIAS, f"no stored {slug} key with alias {alias!r} in this gateway")
        return entry
    entry = next((e for (s, _), e in keys.items() if s == slug and e["default"]), None) or keys.get((slug, "default"))
    if entry is None and c.gateway.get("byok_only"):
        raise GatewayError(400, UNKNOWN_ALIAS, f"this gateway uses stored keys only (byok_only) and has no {slug} key")
    return entry


def must_use_stored_key(c: Call) -> bool:
    """The caller asked for a stored key (an alias), the gateway allows nothing else, or the caller has no key."""
    return ALIAS_HEADER in c.headers or bool(c.gateway.get("byok_only")) or not has_credential(c)


def authenticated(grants, c: Call) -> bool:
    token = c.headers.get("cf-aig-authorization")
    if not token:
        return False
    try:
        authorize(grants, {"authorization": token}, c.account)
    except KumoError:
        return False
    return True


def put_key(c: Call, key: str) -> None:
    """The stored key in the provider's own header, every other credential header of the caller dropped."""
    drop = set(c.provider.credential_headers)
    c.headers = {k: v for k, v in c.headers.items() if k not in drop}
    c.extra_headers = {k: v for k, v in c.extra_headers.items() if k not in drop}
    header = c.provider.credential_headers[0]
    c.extra_headers[header] = f"Bearer {key}" if header == "authorization" else key


def refuse_anonymous() -> GatewayError:
    return GatewayError(401, UNAUTHORIZED, "Unauthorized: a stored provider key is only used for callers the gateway "
                                           "authenticates: send `cf-aig-authorization: Bearer <API token>`")
