"""The response cache: exact match on a key built from provider + path + query + body + the headers that
change the answer (`accept`, and the provider's own: API versions, beta flags), or `cf-aig-cache-key` verbatim;
either way with a hash of the caller's provider credential (as Cloudflare does), so a caller with a wrong or
revoked key never gets another caller's cached answer. Entries keep the response's chunks, so a cached stream is
replayed chunk by chunk. Implementations: in memory (bounded LRU) here, SQLite and Redis in `kumo.storage`."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qsl

if TYPE_CHECKING:
    from kumo.gateway.providers.base import Provider

# Headers that change any provider's answer (beyond the body); each provider adds its own (`answer_headers`).
ANSWER_HEADERS = ("accept",)
MAX_CACHEABLE_BYTES = 25 * 1024 * 1024


@dataclass
class CachedResponse:
    status: int
    headers: dict[str, str]
    chunks: list[bytes]
    expires_at: float

    @property
    def size(self) -> int:
        return sum(len(c) for c in self.chunks)


def cache_key(account: str, gateway: str, provider: Provider, path: str, query: str, body: bytes,
              headers: dict[str, str], custom_key: str | None) -> str:
    """`headers`: what goes upstream, lower-cased (the caller's, plus any the gateway adds)."""
    h = hashlib.sha256()
    for part in (account, gateway):
        h.update(_utf8(part) + b"\0")
    h.update(credential_hash(provider, headers, query))
    if custom_key is not None:
        h.update(b"custom\0" + _utf8(custom_key))
        return h.hexdigest()
    for part in (provider.slug, path, query):
        h.update(_utf8(part) + b"\0")
    for name in ANSWER_HEADERS + provider.answer_headers:
        h.update(_utf8(f"{name}:{headers.get(name, '')}\0"))
    h.update(body)
    return h.hexdigest()


def credential_hash(provider: Provider, headers: dict[str, str], query: str) -> bytes:
    """SHA-256 of the provider credential the request carries, where that provider takes it (headers, query)."""
    h = hashlib.sha256()
    for name in provider.credential_headers:
        h.update(_utf8(f"{name}:{headers.get(name, '')}\0"))
    if provider.credential_query and query:
        for name, value in parse_qsl(query, keep_blank_values=True):
            if name in provider.credential_query:
                h.update(_utf8(f"?{name}={value}\0"))
    return h.digest()


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate from a JSON string must not crash the key


class ResponseCache(Protocol):
    def get(self, key: str) -> CachedResponse | None: ...
    def put(self, key: str, entry: CachedResponse) -> None: ...
    def close(self) -> None: ...


class MemoryCache:
    """Bounded by total bytes; least recently used entries go first."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, CachedResponse] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> CachedResponse | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.expires_at <= time.time():
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, key: str, entry: CachedResponse) -> None:
        if entry.size > min(self.max_bytes, MAX_CACHEABLE_BYTES):
            return
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = entry
            self._bytes += entry.size
            while self._bytes > self.max_bytes and self._entries:
                self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key)
        self._bytes -= entry.size

    def close(self) -> None:
        pass
