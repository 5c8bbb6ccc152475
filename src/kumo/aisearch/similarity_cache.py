"""AI Search's similarity cache: a search or chat answer is kept for the instance's `cache_ttl` and given
again to a later request whose query is close enough in meaning (`cache_threshold`) and whose other
settings (options, earlier messages, model, stream) are the same. Answers say which with
`cf-aig-cache-status: HIT` or `MISS`, as Cloudflare's do.

Closeness: Cloudflare fingerprints prompts with MinHash over word shingles; its own examples ("What's the
weather like today?" matching "Give me the forecast" under `anything_goes`) share no words, so kumo
compares meanings instead: the cosine of the two queries' embeddings by the instance's embedding model,
against the thresholds below. Entries are tied to the instance's content: any item indexed or removed
empties its cache (Cloudflare: "if those chunks change or get deleted, the cache clears")."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from kumo.aisearch.instance_config import CACHE_THRESHOLDS
from kumo.aisearch.errors import bad_search

# cosine similarity of the two queries' embeddings that counts as "the same question", set so the bundled
# bge-small stand-in matches Cloudflare's examples for each level against "What's the weather like today?":
# "What is the weather like today?" 0.99, "How's the weather today?" 0.92, "Tell me today's weather" 0.84,
# "Give me the forecast" 0.42 (unrelated questions score below 0.2)
THRESHOLDS = {"super_strict_match": 0.97, "close_enough": 0.9, "flexible_friend": 0.8, "anything_goes": 0.4}
CANDIDATES = 500  # newest live entries of the same context compared per lookup
assert set(THRESHOLDS) == set(CACHE_THRESHOLDS)


@dataclass(frozen=True)
class CachePolicy:
    enabled: bool
    threshold: float
    ttl: int


def policy(options: Any, config: dict[str, Any]) -> CachePolicy:
    """The instance's `cache`, `cache_threshold`, `cache_ttl`, overridden by a request's `ai_search_options.cache`
    ({enabled, cache_threshold})."""
    raw = (options or {}).get("cache") if isinstance(options, dict) else None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise bad_search("`ai_search_options.cache` must be an object {enabled, cache_threshold}")
    unknown = sorted(set(raw) - {"enabled", "cache_threshold"})
    if unknown:
        raise bad_search(f"`ai_search_options.cache` takes `enabled` and `cache_threshold`, not {', '.join(unknown)}")
    enabled = raw.get("enabled", config.get("cache", False))
    if not isinstance(enabled, bool):
        raise bad_search("`ai_search_options.cache.enabled` must be true or false")
    threshold = raw.get("cache_threshold") or config.get("cache_threshold") or "close_enough"
    if not isinstance(threshold, str) or threshold not in THRESHOLDS:
        raise bad_search(f"`ai_search_options.cache.cache_threshold` must be one of {', '.join(THRESHOLDS)}")
    return CachePolicy(enabled, THRESHOLDS[threshold], int(config.get("cache_ttl") or 172800))


def context_of(kind: str, body: dict[str, Any], query: str) -> str:
    """What must be equal besides the query: the whole request with the query taken out."""
    rest = {k: v for k, v in body.items() if k != "query"}
    if isinstance(body.get("messages"), list):  # the query is the last user message: the rest must match
        messages = list(body["messages"])
        for i in range(len(messages) - 1, -1, -1):
            if isinstance(messages[i], dict) and messages[i].get("role") == "user":
                messages[i] = {**messages[i], "content": None}
                break
        rest["messages"] = messages
    options = rest.get("ai_search_options")
    if isinstance(options, dict):  # whether to use the cache is not part of the answer
        rest["ai_search_options"] = {k: v for k, v in options.items() if k != "cache"}
    text = json.dumps([kind, rest], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def normalise(query: str) -> str:
    return " ".join(query.lower().split())


def unit(vector: Any) -> list[float]:
    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return (array / norm).tolist() if norm else array.tolist()


def best_match(query: list[float], rows: list[tuple[list[float], str]], threshold: float) -> str | None:
    """The stored answer whose query is closest to `query` (unit vectors), if it is close enough."""
    if not rows:
        return None
    matrix = np.asarray([r[0] for r in rows], dtype=np.float32)
    scores = matrix @ np.asarray(query, dtype=np.float32)
    best = int(np.argmax(scores))
    return rows[best][1] if float(scores[best]) >= threshold else None


def expiry(ttl: int) -> float:
    return time.time() + ttl
