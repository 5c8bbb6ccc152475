"""Retrieval: vector search (query embedding -> the instance's Vectorize index), keyword search (BM25 over
the keyword index), their fusion (`rrf` or `max`), optional reranking with a cross-encoder, context
expansion, and the search options of a request (`ai_search_options.retrieval` / `.reranking`).

Scores: vector scores are cosine similarities; keyword scores are BM25 divided by the best BM25 of the
query (so 1.0 is the best keyword match); `rrf` fuses ranks (k=60) and is scaled so a chunk ranked first by
both methods scores 1.0; `max` takes the higher of the two scores, each divided by its method's best score
(raw cosines would always lose to the keyword side's 1.0). `match_threshold` applies to each method's own
score before fusion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kumo.ai.service import AiService
from kumo.aisearch.boosting import bonuses
from kumo.aisearch.instance_config import boost_fields, boost_shape, tokenizer_of
from kumo.aisearch.errors import bad_search
from kumo.aisearch.metadata import index_types, matches
from kumo.aisearch.store import AiSearchStore, InstanceRecord, ItemRecord, StoredChunk
from kumo.api.threads import blocking
from kumo.errors import InvalidRequest, KumoError
from kumo.vectorize.filters import MetadataFilter
from kumo.vectorize.query_rules import QueryOptions
from kumo.vectorize.service import VectorizeService

RRF_K = 60
MAX_CANDIDATES = 100  # Vectorize's topK limit
WORD = re.compile(r"\w+", re.UNICODE)
STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here hers
him his how i if in into is it its itself just me more most my no nor not of off on once only or other our ours
out over own same she should so some such than that the their theirs them then there these they this those
through to too under until up very was we were what when where which while who whom why will with would you
your yours tell explain describe please use using used way ways
""".split())


@dataclass(frozen=True)
class SearchOptions:
    retrieval_type: str
    max_num_results: int
    match_threshold: float
    fusion_method: str
    filters: Any
    metadata_filter: MetadataFilter | None
    context_expansion: int
    keyword_match_mode: str
    return_on_failure: bool
    rerank: bool
    reranking_model: str
    reranking_threshold: float
    boosts: list[tuple[str, str, str]] = field(default_factory=list)  # (field, data type, direction)
    tokenizer: str = "porter"


@dataclass
class Hit:
    chunk: StoredChunk
    item: ItemRecord
    score: float
    details: dict[str, Any] = field(default_factory=dict)
    text: str = ""


def _number(value: Any, name: str, low: float, high: float, integer: bool = False) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        raise bad_search(f"`{name}` must be {kind} from {low:g} to {high:g}")
    if integer:
        if float(value) != int(value):
            raise bad_search(f"`{name}` must be an integer from {low:g} to {high:g}")
        return int(value)
    return float(value)


def search_options(options: Any, config: dict[str, Any]) -> SearchOptions:
    """The request's `ai_search_options` over the instance's settings, checked."""
    if not isinstance(options, dict):
        raise bad_search("`ai_search_options` must be an object")
    retrieval = options.get("retrieval") or {}
    reranking = options.get("reranking") or {}
    if not isinstance(retrieval, dict) or not isinstance(reranking, dict):
        raise bad_search("`ai_search_options.retrieval` and `.reranking` must be objects")
    method = config["index_method"]
    default_type = "hybrid" if method["vector"] and method["keyword"] else "vector" if method["vector"] else "keyword"
    kind = retrieval.get("retrieval_type") or default_type
    if kind not in ("vector", "keyword", "hybrid"):
        raise bad_search("`retrieval.retrieval_type` must be vector, keyword or hybrid")
    if kind in ("vector", "hybrid") and not method["vector"]:
        raise bad_search(f"{kind} retrieval needs the vector index, which this instance does not build "
                         "(index_method.vector is false)")
    if kind in ("keyword", "hybrid") and not method["keyword"]:
        raise bad_search(f"{kind} retrieval needs the keyword index, which this instance does not build "
                         "(index_method.keyword is false)")
    fusion = retrieval.get("fusion_method") or config["fusion_method"]
    if fusion not in ("rrf", "max"):
        raise bad_search("`retrieval.fusion_method` must be rrf or max")
    mode = retrieval.get("keyword_match_mode") or (config.get("retrieval_options") or {}).get("keyword_match_mode") or "and"
    if mode not in ("and", "or"):
        raise bad_search("`retrieval.keyword_match_mode` must be and or or")
    # a request's boost_by replaces the instance's (an empty array turns boosting off)
    raw_boosts = retrieval["boost_by"] if "boost_by" in retrieval else \
        (config.get("retrieval_options") or {}).get("boost_by") or []
    boosts = boost_fields(boost_shape(raw_boosts, "retrieval.boost_by", bad_search), config, "retrieval.boost_by",
                          bad_search)
    filters = retrieval.get("filters")
    try:
        metadata_filter = MetadataFilter.parse(filters) if filters not in (None, {}) else None
    except KumoError as exc:
        raise bad_search(f"`retrieval.filters`: {exc.message}") from None
    rerank = reranking.get("enabled", config["reranking"])
    if not isinstance(rerank, bool):
        raise bad_search("`reranking.enabled` must be true or false")
    return SearchOptions(
        retrieval_type=kind,
        max_num_results=_number(retrieval.get("max_num_results", config["max_num_results"]), "max_num_results",
                                1, 50, integer=True),
        match_threshold=_number(retrieval.get("match_threshold", config["score_threshold"]), "match_threshold", 0, 1),
        fusion_method=fusion,
        filters=filters if metadata_filter is not None else None,
        metadata_filter=metadata_filter,
        context_expansion=_number(retrieval.get("context_expansion", 0), "context_expansion", 0, 3, integer=True),
        keyword_match_mode=mode,
        return_on_failure=bool(retrieval.get("return_on_failure", True)),
        rerank=rerank,
        reranking_model=reranking.get("model") or config["reranking_model"],
        reranking_threshold=_number(reranking.get("match_threshold", 0.4), "reranking.match_threshold", 0, 1),
        boosts=boosts,
        tokenizer=tokenizer_of(config),
    )


def keyword_terms(query: str) -> list[str]:
    words = [w.lower() for w in WORD.findall(query)]
    content = [w for w in words if w not in STOPWORDS]
    return list(dict.fromkeys(content or words))


class Retriever:
    def __init__(self, store: AiSearchStore, ai: AiService, vectorize: VectorizeService):
        self.store = store
        self.ai = ai
        self.vectorize = vectorize

    async def search(self, instance: InstanceRecord, query: str, opts: SearchOptions) -> list[Hit]:
        try:
            return await self._search(instance, query, opts)
        except InvalidRequest:
            raise  # the caller's mistake (bad filter, weights not installed): say so even with return_on_failure
        except KumoError:
            if opts.return_on_failure:
                return []
            raise

    async def _search(self, instance: InstanceRecord, query: str, opts: SearchOptions) -> list[Hit]:
        pool = MAX_CANDIDATES if opts.retrieval_type == "hybrid" or opts.rerank or opts.boosts else min(
            MAX_CANDIDATES, opts.max_num_results * 2)
        vector: list[tuple[str, float]] = []
        keyword: list[tuple[str, float]] = []
        if opts.retrieval_type in ("vector", "hybrid"):
            vector = [(cid, s) for cid, s in await self._vector(instance, query, pool, opts) if s >= opts.match_threshold]
        if opts.retrieval_type in ("keyword", "hybrid"):
            keyword = [(cid, s) for cid, s in await self._keyword(instance, query, pool, opts)
                       if s >= opts.match_threshold]
        fused = fuse(vector, keyword, opts.fusion_method if opts.retrieval_type == "hybrid" else None)
        hits = await blocking(self._resolve, instance, fused)
        if opts.boosts and hits:
            boost(hits, opts.boosts)
        if opts.rerank and hits:
            hits = await self._rerank(query, hits[: max(opts.max_num_results * 2, 20)], opts)
        hits = hits[: opts.max_num_results]
        await blocking(self._expand, hits, opts.context_expansion)
        return hits

    async def _vector(self, instance: InstanceRecord, query: str, pool: int,
                      opts: SearchOptions) -> list[tuple[str, float]]:
        result = await self.ai.run(instance.config["embedding_model"], {"text": [query]})
        embedding = [float(v) for v in result.output.result["data"][0]]
        found = await blocking(
            self.vectorize.query, instance.account, instance.vector_index, embedding,
            None, QueryOptions(top_k=pool, filter=opts.filters, return_metadata="none"))
        return [(m["id"], float(m["score"])) for m in found["matches"]]

    async def _keyword(self, instance: InstanceRecord, query: str, pool: int,
                       opts: SearchOptions) -> list[tuple[str, float]]:
        allowed = None
        if opts.metadata_filter is not None:
            types = index_types(instance.config)
            rows = await blocking(self.store.items_metadata, instance.pk)
            allowed = {pk for pk, meta in rows if matches(opts.metadata_filter, meta, types)}
        found = await blocking(self.store.keyword_search, instance.pk, keyword_terms(query),
                                        opts.keyword_match_mode, pool, allowed, opts.tokenizer)
        best = found[0][1] if found and found[0][1] > 0 else 1.0
        return [(cid, score / best) for cid, score in found]

    def _resolve(self, instance: InstanceRecord, fused: list[tuple[str, float, dict]]) -> list[Hit]:
        chunks = self.store.chunks_by_id(instance.pk, [cid for cid, _, _ in fused])
        items = self.store.items_by_pk(sorted({c.item_pk for c in chunks.values()}))
        hits = []
        for cid, score, details in fused:
            chunk = chunks.get(cid)
            if chunk is None or chunk.item_pk not in items:
                continue  # a vector whose chunk is gone (see indexing.py): never answered
            hits.append(Hit(chunk, items[chunk.item_pk], score, details, chunk.text))
        return hits

    async def _rerank(self, query: str, hits: list[Hit], opts: SearchOptions) -> list[Hit]:
        result = await self.ai.run(opts.reranking_model,
                                   {"query": query, "contexts": [{"text": h.chunk.text} for h in hits]})
        ranked = []
        for entry in result.output.result["response"]:
            hit = hits[entry["id"]]
            hit.details["reranking_score"] = float(entry["score"])
            hit.score = float(entry["score"])
            if hit.score >= opts.reranking_threshold:
                ranked.append(hit)
        return sorted(ranked, key=lambda h: -h.score)

    def _expand(self, hits: list[Hit], around: int) -> None:
        """Context expansion: each hit's text grows by `around` neighbouring chunks on each side."""
        if not around:
            return
        for hit in hits:
            p = hit.chunk.position
            near = self.store.chunks_at(hit.chunk.item_pk, list(range(max(0, p - around), p + around + 1)))
            hit.text = merge_adjacent(near)


def boost(hits: list[Hit], boosts: list[tuple[str, str, str]]) -> None:
    """Add each hit's metadata bonus to its score (recorded in `scoring_details.boost`) and re-sort."""
    for hit, bonus in zip(hits, bonuses([h.item.metadata for h in hits], boosts)):
        hit.details["boost"] = bonus
        hit.score += bonus
    hits.sort(key=lambda h: -h.score)


def merge_adjacent(chunks: list[StoredChunk]) -> str:
    """The text the consecutive chunks cover, without repeating their overlaps."""
    out, end = [], -1
    for chunk in sorted(chunks, key=lambda c: c.position):
        raw = chunk.text.encode()
        if end > chunk.start_byte:
            raw = raw[min(end - chunk.start_byte, len(raw)):]
            out.append(raw.decode("utf-8", errors="ignore"))
        else:
            out.append(("\n\n" if out else "") + chunk.text)
        end = max(end, chunk.end_byte)
    return "".join(out)


def fuse(vector: list[tuple[str, float]], keyword: list[tuple[str, float]],
         method: str | None) -> list[tuple[str, float, dict]]:
    """(chunk id, score, scoring details), best first. `method` None: one list only, its own scores."""
    details: dict[str, dict[str, Any]] = {}
    for rank, (cid, score) in enumerate(vector, start=1):
        details.setdefault(cid, {})
        details[cid].update(vector_score=score, vector_rank=rank)
    for rank, (cid, score) in enumerate(keyword, start=1):
        details.setdefault(cid, {})
        details[cid].update(keyword_score=score, keyword_rank=rank)
    # max: both methods' scores normalised by their best (keyword scores already are), so neither dominates
    top_vector = vector[0][1] if vector and vector[0][1] > 0 else 1.0
    scored = []
    for cid, d in details.items():
        if method == "rrf":
            total = sum(1 / (RRF_K + d[k]) for k in ("vector_rank", "keyword_rank") if k in d)
            score = total / (2 / (RRF_K + 1))
        elif method == "max":
            score = max(d.get("vector_score", 0.0) / top_vector, d.get("keyword_score", 0.0))
        else:
            score = d.get("vector_score", d.get("keyword_score", 0.0))
        if method:
            d["fusion_method"] = method
        scored.append((cid, score, d))
    scored.sort(key=lambda t: (-t[1], t[2].get("vector_rank", 1e9), t[2].get("keyword_rank", 1e9)))
    return scored


def chunk_object(hit: Hit) -> dict[str, Any]:
    """A chunk as search and chat answers list it."""
    return {
        "id": hit.chunk.chunk_id,
        "type": "text",
        "score": round(hit.score, 6),
        "text": hit.text,
        "item": {"key": hit.item.key, "metadata": hit.item.metadata, "timestamp": hit.item.metadata.get("timestamp")},
        "scoring_details": {k: (round(v, 6) if isinstance(v, float) else v) for k, v in hit.details.items()},
    }
