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
from kumo.aisearch.errors import bad_config, bad_search
from kumo.api.threads import blocking

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


async def lookup(ai: Any, store: Any, record: Any, kind: str, body: dict[str, Any], query: str
                 ) -> tuple[dict[str, Any] | None, tuple | None]:
    """(a cached answer close enough to this request, or None; what `keep` needs to store the new one)."""
    found_policy = policy(body.get("ai_search_options"), record.config)
    if not found_policy.enabled:
        return None, None
    if body.get("stream"):
        if (body.get("ai_search_options") or {}).get("cache", {}).get("enabled"):
            raise bad_config("`ai_search_options.cache`: streamed answers are not cached; ask without `stream` "
                             "to use the similarity cache")
        return None, None  # the instance's cache covers searches and answers that do not stream
    context = context_of(kind, body, query)
    text = normalise(query)
    result = await ai.run(record.config["embedding_model"], {"text": [text]})
    embedding = unit(result.output.result["data"][0])
    rows = await blocking(store.cache_candidates, record.pk, context, time.time(), CANDIDATES)
    found = best_match(embedding, rows, found_policy.threshold)
    return (json.loads(found) if found is not None else None), (context, text, embedding, found_policy.ttl)


async def keep(store: Any, record: Any, looked_up: tuple | None, result: Any) -> str | None:
    """Store a fresh answer under what `lookup` computed; the cache's verdict (MISS), None when it is off."""
    if looked_up is None or not isinstance(result, dict):
        return None
    context, text, embedding, ttl = looked_up
    await blocking(store.cache_put, record.pk, context, text, embedding, json.dumps(result), expiry(ttl), time.time())
    return "MISS"


CACHE_SETTINGS = ("cache", "cache_threshold", "cache_ttl")


def answer_settings(config: dict[str, Any]) -> dict[str, Any]:
    """What shapes an answer: every setting but the cache's own (turning the cache off and on keeps it)."""
    return {k: v for k, v in config.items() if k not in CACHE_SETTINGS}
