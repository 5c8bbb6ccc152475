"""Settings that shape retrieval, through the `cloudflare` SDK on both backends: `boost_by` (instance-level and
per request) reorders equally relevant chunks by their metadata; the trigram tokenizer matches substrings the
porter tokenizer cannot; the similarity cache answers a close-enough question again (`cf-aig-cache-status`),
forgets on `purge_cache` and when content changes."""

from __future__ import annotations

import cloudflare
import pytest

from tests.aisearch.helpers import search, upload

TEXT = b"Lighthouse keepers trim the lamp wick every evening."


def keys(result):
    return [c.item.key for c in result.chunks]


def test_boost_by_reorders_by_metadata(cf, account):
    ns = cf.aisearch.namespaces.instances
    ns.create("default", account_id=account, id="boost", index_method={"vector": False, "keyword": True},
              custom_metadata=[{"field_name": "priority", "data_type": "number"},
                               {"field_name": "author", "data_type": "text"}])
    upload(cf, account, "boost", "low.md", TEXT, {"priority": 1})
    upload(cf, account, "boost", "high.md", TEXT, {"priority": 9, "author": "ada"})
    upload(cf, account, "boost", "none.md", TEXT)

    def ranked(**retrieval):
        return keys(search(cf, account, "boost", "lighthouse keepers lamp", retrieval_type="keyword", **retrieval))

    assert ranked(boost_by=[{"field": "priority", "direction": "desc"}])[:2] == ["high.md", "low.md"]
    assert ranked(boost_by=[{"field": "priority", "direction": "asc"}])[:2] == ["low.md", "high.md"]
    assert ranked(boost_by=[{"field": "PRIORITY"}])[:2] == ["low.md", "high.md"]  # asc by default; any case
    assert ranked(boost_by=[{"field": "author", "direction": "exists"}])[0] == "high.md"
    assert ranked(boost_by=[{"field": "author", "direction": "not_exists"}])[-1] == "high.md"
    scored = search(cf, account, "boost", "lighthouse lamp", retrieval_type="keyword",
                    boost_by=[{"field": "priority", "direction": "desc"}]).chunks
    assert scored[0].scoring_details.boost > scored[1].scoring_details.boost  # kumo's addition to the details

    # an instance-level boost applies to every search; a request's boost_by replaces it, [] turns it off
    updated = ns.update("boost", account_id=account, name="default",
                        retrieval_options={"boost_by": [{"field": "priority", "direction": "desc"}]})
    assert updated.retrieval_options.boost_by[0].field == "priority"
    assert ranked()[:2] == ["high.md", "low.md"]
    assert ranked(boost_by=[{"field": "priority", "direction": "asc"}])[:2] == ["low.md", "high.md"]
    unboosted = search(cf, account, "boost", "lighthouse lamp", retrieval_type="keyword", boost_by=[]).chunks
    assert getattr(unboosted[0].scoring_details, "boost", None) is None

    # Cloudflare's rules: text fields only by exists/not_exists, known fields only, at most 3, each once
    for bad in ([{"field": "author", "direction": "desc"}], [{"field": "colour"}],
                [{"field": "priority"}, {"field": "Priority"}], [{"field": "timestamp"}] * 4):
        with pytest.raises(cloudflare.BadRequestError) as caught:
            ranked(boost_by=bad)
        assert "boost_by" in caught.value.body["errors"][0]["message"]
        with pytest.raises(cloudflare.BadRequestError):
            ns.update("boost", account_id=account, name="default", retrieval_options={"boost_by": bad})


def test_trigram_tokenizer_matches_substrings(cf, account):
    ns = cf.aisearch.namespaces.instances
    for tokenizer in ("porter", "trigram"):
        ns.create("default", account_id=account, id=tokenizer, index_method={"vector": False, "keyword": True},
                  indexing_options={"keyword_tokenizer": tokenizer})
        upload(cf, account, tokenizer, "code.md", b"Call getConfiguration() before the HTTPServer starts.")
        upload(cf, account, tokenizer, "other.md", b"Nothing to see in this file at all.")
    assert ns.read("trigram", account_id=account, name="default").indexing_options.keyword_tokenizer == "trigram"
    assert keys(search(cf, account, "trigram", "configura", retrieval_type="keyword")) == ["code.md"]
    assert keys(search(cf, account, "trigram", "TTPSERV", retrieval_type="keyword")) == ["code.md"]
    assert keys(search(cf, account, "trigram", "configura nothing", retrieval_type="keyword",
                       keyword_match_mode="or")) != []
    assert keys(search(cf, account, "porter", "configura", retrieval_type="keyword")) == []
    # changing the tokenizer re-indexes: the porter instance then finds substrings too
    ns.update("porter", account_id=account, name="default", indexing_options={"keyword_tokenizer": "trigram"})
    for _ in range(200):
        if keys(search(cf, account, "porter", "configura", retrieval_type="keyword")) == ["code.md"]:
            break
        import time
        time.sleep(0.1)
    assert keys(search(cf, account, "porter", "configura", retrieval_type="keyword")) == ["code.md"]
    with pytest.raises(cloudflare.BadRequestError):
        ns.create("default", account_id=account, id="bad", indexing_options={"keyword_tokenizer": "unicode61"})


def _search(cf, account, query, **cache):
    options = {"retrieval": {"retrieval_type": "keyword", "keyword_match_mode": "or", "match_threshold": 0}}
    if cache:
        options["cache"] = cache
    raw = cf.aisearch.namespaces.instances.with_raw_response.search(
        "cached", account_id=account, name="default", query=query, aisearch_options=options)
    return raw.headers.get("cf-aig-cache-status"), raw.parse()


def test_similarity_cache(cf, account, http):
    ns = cf.aisearch.namespaces.instances
    created = ns.create("default", account_id=account, id="cached", index_method={"vector": False, "keyword": True},
                        cache=True, cache_threshold="close_enough", cache_ttl=600)
    assert (created.cache, created.cache_threshold, created.cache_ttl) == (True, "close_enough", 600)
    upload(cf, account, "cached", "paris.md", b"Paris is the capital of France and sits on the Seine.")

    status, first = _search(cf, account, "What is the capital of France?")
    assert status == "MISS" and keys(first) == ["paris.md"]
    status, again = _search(cf, account, "What is the capital of France?")
    assert status == "HIT" and again.chunks[0].id == first.chunks[0].id
    assert _search(cf, account, "What's the capital of France?")[0] == "HIT"  # close enough
    assert _search(cf, account, "How do beavers build their dams?")[0] == "MISS"  # another question
    assert _search(cf, account, "What is the capital of France?", enabled=False)[0] is None  # per request: off
    # a looser threshold reuses answers a strict one does not (embedding cosine 0.92 here)
    assert _search(cf, account, "Which city is France's capital?", cache_threshold="close_enough")[0] == "HIT"
    assert _search(cf, account, "Which city is France's capital?", cache_threshold="super_strict_match")[0] == "MISS"

    # purge_cache empties it; new content empties it too (cached answers would quote stale chunks)
    purged = http.post(f"/client/v4/accounts/{account}/ai-search/instances/cached/purge_cache")
    assert purged.status_code == 200 and purged.json()["success"] is True
    assert _search(cf, account, "What is the capital of France?")[0] == "MISS"
    assert _search(cf, account, "What is the capital of France?")[0] == "HIT"
    upload(cf, account, "cached", "lyon.md", b"Lyon is a city of France known for its food.")
    status, fresh = _search(cf, account, "What is the capital of France?")
    assert status == "MISS" and sorted(keys(fresh)) == ["lyon.md", "paris.md"]

    # an instance without the cache answers fresh, unless a request asks for it
    ns.update("cached", account_id=account, name="default", cache=False)
    assert _search(cf, account, "What is the capital of France?")[0] is None
    assert _search(cf, account, "What is the capital of France?", enabled=True)[0] == "HIT"
    with pytest.raises(cloudflare.BadRequestError):
        _search(cf, account, "capital", cache_threshold="somewhat")
