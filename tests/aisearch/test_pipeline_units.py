"""The pieces of the pipeline on their own: conversion, chunking, fusion, metadata filters, source globs."""

from __future__ import annotations

import pytest

from kumo.aisearch.chunking import chunk_text, count_tokens
from kumo.aisearch.convert import to_text
from kumo.aisearch.errors import UnreadableDocument
from kumo.aisearch.metadata import built_in, matches, parse_custom
from kumo.aisearch.retrieval import fuse, keyword_terms, merge_adjacent
from kumo.aisearch.sources import wanted
from kumo.aisearch.store import StoredChunk
from kumo.vectorize.filters import MetadataFilter
from tests.aisearch.helpers import make_docx, make_pdf


def test_each_format_becomes_text():
    assert to_text("a.md", b"# Title\n\nBody text.") == "# Title\n\nBody text."
    assert to_text("a.txt", "caf\u00e9".encode()) == "caf\u00e9"
    html = b"<html><head><title>Page</title><style>p{}</style></head><body><p>One</p><script>x()</script><p>Two</p></body></html>"
    assert to_text("a.html", html) == "Page\n\nOne\n\nTwo"
    assert to_text("a.pdf", make_pdf("Text in a PDF")) == "Text in a PDF"
    assert to_text("a.docx", make_docx(["First.", "Second."])) == "First.\n\nSecond."


@pytest.mark.parametrize("key, data, words", [
    ("a.png", b"\x89PNG", "unsupported file type .png"),
    ("a.pdf", b"not a pdf at all", "not a readable PDF"),
    ("a.docx", b"PK not a zip", "not a readable DOCX"),
    ("a.txt", b"\xff\xfe\x00\x00bad" + bytes(range(256)), ""),
    ("a.txt", b"\x00\x01binary", "binary data"),
    ("a.md", b"   \n\n ", "contains no text"),
])
def test_unreadable_documents_say_why(key, data, words):
    with pytest.raises(UnreadableDocument) as caught:
        to_text(key, data)
    assert words in caught.value.message


def test_chunks_respect_size_overlap_and_boundaries():
    paragraphs = [" ".join(f"Sentence {p}.{s} has some words in it." for s in range(6)) for p in range(8)]
    text = "\n\n".join(paragraphs)
    chunks = chunk_text(text, size=64, overlap_percent=20)
    assert len(chunks) > 4
    encoded = text.encode()
    for chunk in chunks:
        assert count_tokens(chunk.text) <= 64
        assert encoded[chunk.start_byte:chunk.end_byte].decode() == chunk.text
        assert chunk.text.startswith("Sentence") and chunk.text.endswith(".")  # whole sentences only
    # consecutive chunks overlap (the next starts before the previous ends), and together cover everything
    assert all(b.start_byte < a.end_byte for a, b in zip(chunks, chunks[1:]))
    assert chunks[0].start_byte == 0 and chunks[-1].end_byte == len(encoded)
    no_overlap = chunk_text(text, size=64, overlap_percent=0)
    assert all(b.start_byte >= a.end_byte for a, b in zip(no_overlap, no_overlap[1:]))
    assert [c.text for c in chunk_text(text, enabled=False)] == [text]


def test_a_sentence_longer_than_a_chunk_is_cut():
    chunks = chunk_text("word " * 300, size=100, overlap_percent=0)
    assert [count_tokens(c.text) for c in chunks] == [100, 100, 100]


def test_merge_adjacent_drops_overlaps():
    text = "alpha beta gamma delta"
    a = StoredChunk("a", 1, 0, "alpha beta gamma", 0, 16)
    b = StoredChunk("b", 1, 1, "gamma delta", 11, 22)
    assert merge_adjacent([b, a]) == text


def test_rrf_and_max_fusion():
    vector = [("a", 0.9), ("b", 0.8)]
    keyword = [("b", 1.0), ("c", 0.5)]
    rrf = fuse(vector, keyword, "rrf")
    assert [cid for cid, _, _ in rrf] == ["b", "a", "c"]
    assert rrf[0][2] == {"vector_score": 0.8, "vector_rank": 2, "keyword_score": 1.0, "keyword_rank": 1,
                         "fusion_method": "rrf"}
    assert 0 < rrf[0][1] <= 1
    best = fuse([("x", 0.9)], [("x", 0.9)], "rrf")
    assert best[0][1] == pytest.approx(1.0)  # first in both lists
    by_max = fuse(vector, keyword, "max")
    # each side divided by its best: a (vector 0.9/0.9) and b (keyword 1.0) tie; the vector rank breaks it
    assert [(cid, round(score, 3)) for cid, score, _ in by_max] == [("a", 1.0), ("b", 1.0), ("c", 0.5)]


def test_keyword_terms_drop_stopwords():
    assert keyword_terms("How do I open a file in Python?") == ["open", "file", "python"]
    assert keyword_terms("the") == ["the"]  # nothing else to search for


def test_metadata_filters_match_vectorize_semantics():
    config = {"custom_metadata": [{"field_name": "version", "data_type": "number"},
                                  {"field_name": "public", "data_type": "boolean"}]}
    types = {"filename": "string", "folder": "string", "timestamp": "number", "version": "number",
             "public": "boolean"}
    custom, warnings = parse_custom('{"version": "2.5", "public": "yes", "other": 1}', config)
    assert custom == {"version": 2.5, "public": True}
    assert warnings == [{"code": "custom_metadata_field_not_filterable", "field": "other"}]
    meta = {**built_in("guides/a.md", 1_000), **custom}
    assert meta["folder"] == "guides/" and built_in("a.md", 0)["folder"] == ""

    def check(raw):
        return matches(MetadataFilter.parse(raw), meta, types)

    assert check({"folder": "guides/"}) and not check({"folder": "other/"})
    assert check({"version": {"$gte": 2, "$lt": 3}}) and not check({"version": {"$gt": 2.5}})
    assert check({"public": True}) and check({"folder": {"$in": ["x/", "guides/"]}})
    assert check({"missing": {"$ne": "x"}}) and check({"missing": None}) and not check({"missing": "x"})
    assert check({"timestamp": {"$lte": 1000}})


def test_source_globs():
    params = {"include_items": ["docs/**"], "exclude_items": ["**/*.tmp", "docs/private/*"]}
    assert wanted("docs/a/b.md", params)
    assert not wanted("other/a.md", params)
    assert not wanted("docs/a/b.tmp", params)
    assert not wanted("docs/private/x.md", params)
    assert wanted("docs/private/deeper/x.md", params)  # `*` stays within one segment
    assert wanted("blog/x.md", {"prefix": "blog/"}) and not wanted("x.md", {"prefix": "blog/"})


def test_system_prompts_reach_the_model():
    import asyncio

    from kumo.aisearch import answer

    inputs = answer.generation_input({"messages": [{"role": "user", "content": "Bonjour?"}]}, "Answer in French.", [])
    assert inputs["messages"][0]["role"] == "system" and inputs["messages"][0]["content"].startswith("Answer in French.")

    class Recorder:  # stands in for the Workers AI service: records what the rewrite asks
        asked: list = []

        async def run(self, model, request):
            from kumo.ai.runtimes.base import RunOutput
            from kumo.ai.service import RunResult

            self.asked.append(request)
            return RunResult(RunOutput({"response": "cats sleep"}), model)

    rewritten = asyncio.run(answer.rewrite_query(Recorder(), "@cf/m", "Keep nouns only.", "how long do cats sleep"))
    assert rewritten == "cats sleep" and Recorder.asked[0]["messages"][0]["content"] == "Keep nouns only."


def test_boost_bonuses_follow_the_directions():
    from kumo.aisearch.boosting import BOOST_WEIGHT, bonuses

    metas = [{"priority": 1.0}, {"priority": 5.0}, {}, {"priority": 3.0, "author": "ada"}]
    assert bonuses(metas, [("priority", "number", "desc")]) == [0.0, BOOST_WEIGHT, 0.0, BOOST_WEIGHT / 2]
    assert bonuses(metas, [("priority", "number", "asc")]) == [BOOST_WEIGHT, 0.0, 0.0, BOOST_WEIGHT / 2]
    assert bonuses(metas, [("author", "text", "exists")]) == [0.0, 0.0, 0.0, BOOST_WEIGHT]
    assert bonuses(metas, [("author", "text", "not_exists")]) == [BOOST_WEIGHT] * 3 + [0.0]
    dates = [{"when": "2024-01-01T00:00:00Z"}, {"when": "2025-06-01T00:00:00Z"}]
    assert bonuses(dates, [("when", "datetime", "desc")]) == [0.0, BOOST_WEIGHT]


def test_cache_context_ignores_the_query_and_the_cache_switch():
    from kumo.aisearch.similarity_cache import context_of

    a = {"query": "what is x", "ai_search_options": {"retrieval": {"max_num_results": 3}, "cache": {"enabled": True}}}
    b = {"query": "tell me x", "ai_search_options": {"retrieval": {"max_num_results": 3}}}
    c = {"query": "what is x", "ai_search_options": {"retrieval": {"max_num_results": 4}}}
    assert context_of("search", a, "what is x") == context_of("search", b, "tell me x")
    assert context_of("search", a, "what is x") != context_of("search", c, "what is x")
    assert context_of("search", b, "x") != context_of("chat", b, "x")
    chat = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q1"}]}
    other = {"messages": [{"role": "system", "content": "s2"}, {"role": "user", "content": "q2"}]}
    assert context_of("chat", chat, "q1") != context_of("chat", other, "q2")


def test_cache_entries_expire(tmp_path):
    import time

    from kumo.storage.sql_aisearch import SqlAiSearchStore
    from kumo.storage.sqlite import SqliteDatabase

    store = SqlAiSearchStore(SqliteDatabase(tmp_path / "aisearch.sqlite3", branch="aisearch"))
    try:
        record = store.create_instance("acct", "default", "i", {}, None, "2026-01-01T00:00:00Z")
        now = time.time()
        store.cache_put(record.pk, "ctx", "q", [1.0, 0.0], '{"a": 1}', now + 600, now)
        store.cache_put(record.pk, "ctx", "old", [0.0, 1.0], '{"a": 2}', now - 1, now)
        assert store.cache_candidates(record.pk, "ctx", now, 10) == [([1.0, 0.0], '{"a": 1}')]
        assert store.cache_candidates(record.pk, "ctx", now + 601, 10) == []  # past its cache_ttl
        assert store.purge_cache(record.pk) == 2
    finally:
        store.close()
