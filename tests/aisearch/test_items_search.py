"""Items and search through the `cloudflare` SDK: every format, every retrieval type, filters, deletes,
unreadable files, reranking without weights."""

from __future__ import annotations

import time
import uuid

import cloudflare
import pytest

from tests.aisearch.helpers import make_docx, make_pdf, search, upload

CORPUS = {
    "guides/cats.md": (b"# Cats\n\nCats are small domestic felines. A content cat purrs, and cats sleep for "
                       b"about fifteen hours every day.", {"category": "pets"}),
    "guides/dogs.html": (b"<html><head><title>Dogs</title></head><body><h1>Dogs</h1><p>Dogs are loyal "
                         b"companions that need daily walks and bark at strangers.</p></body></html>",
                         {"category": "pets"}),
    "space/rockets.pdf": (make_pdf("A rocket engine burns kerosene with liquid oxygen to produce thrust."),
                          {"category": "space", "version": 1}),
    "space/moon.docx": (make_docx(["Apollo 11 landed on the Moon in July 1969.",
                                   "Neil Armstrong and Buzz Aldrin walked on the lunar surface."]),
                        {"category": "space", "version": 2}),
    "notes.txt": (b"Python is a programming language with dynamic typing and garbage collection.", None),
}


@pytest.fixture(scope="module")
def kb(server):
    from cloudflare import Cloudflare

    cf = Cloudflare(api_token="dev-token", base_url=server.url + "/client/v4", max_retries=0)
    account = "acct-kb-" + uuid.uuid4().hex[:8]
    cf.aisearch.namespaces.instances.create(
        "default", account_id=account, id="kb", chunk_size=64,
        custom_metadata=[{"field_name": "category", "data_type": "text"},
                         {"field_name": "version", "data_type": "number"}])
    items = {key: upload(cf, account, "kb", key, data, meta) for key, (data, meta) in CORPUS.items()}
    yield cf, account, items
    cf.close()


def keys(result) -> list[str]:
    return [c.item.key for c in result.chunks]


def test_every_format_is_indexed(kb):
    cf, account, items = kb
    assert {k: (i.status, i.error) for k, i in items.items()} == {k: ("completed", None) for k in CORPUS}
    assert all(i.chunks_count >= 1 and i.source_id == "builtin" for i in items.values())
    listed = cf.aisearch.namespaces.instances.items.list("kb", account_id=account, name="default")
    assert sorted(i.key for i in listed) == sorted(CORPUS)
    moon = items["space/moon.docx"]
    assert moon.metadata == {"filename": "space/moon.docx", "folder": "space/", "timestamp": moon.metadata["timestamp"],
                             "category": "space", "version": 2.0}
    got = cf.aisearch.namespaces.instances.items.get(moon.id, account_id=account, name="default", id="kb")
    assert got.key == "space/moon.docx" and got.checksum == moon.checksum
    raw = cf.aisearch.namespaces.instances.items.download(moon.id, account_id=account, name="default", id="kb")
    assert raw.read() == CORPUS["space/moon.docx"][0]
    chunks = cf.aisearch.namespaces.instances.items.chunks(moon.id, account_id=account, name="default", id="kb")
    assert "Armstrong" in " ".join(c.text for c in chunks) and chunks[0].item.key == "space/moon.docx"
    dogs = cf.aisearch.namespaces.instances.items.chunks(items["guides/dogs.html"].id, account_id=account,
                                                         name="default", id="kb")
    assert "<p>" not in dogs[0].text and "loyal companions" in dogs[0].text
    filtered = cf.aisearch.namespaces.instances.items.list("kb", account_id=account, name="default",
                                                           metadata_filter='{"category": "pets"}')
    assert sorted(i.key for i in filtered) == ["guides/cats.md", "guides/dogs.html"]


def test_vector_keyword_and_hybrid_retrieval(kb):
    cf, account, _ = kb
    vector = search(cf, account, "kb", "which pets purr and nap all day", retrieval_type="vector")
    assert keys(vector)[0] == "guides/cats.md"
    details = vector.chunks[0].scoring_details
    assert details.vector_score == vector.chunks[0].score and details.vector_rank == 1 and details.keyword_score is None

    keyword = search(cf, account, "kb", "kerosene thrust", retrieval_type="keyword")
    assert keys(keyword) == ["space/rockets.pdf"]
    assert keyword.chunks[0].scoring_details.keyword_rank == 1 and keyword.chunks[0].score == 1.0

    hybrid = search(cf, account, "kb", "Apollo landed on the Moon", retrieval_type="hybrid")
    assert keys(hybrid)[0] == "space/moon.docx"
    top = hybrid.chunks[0].scoring_details
    assert top.fusion_method == "rrf" and top.vector_rank == 1 and top.keyword_rank == 1
    assert hybrid.chunks[0].score == pytest.approx(1.0)
    assert hybrid.search_query == "Apollo landed on the Moon"

    as_max = search(cf, account, "kb", "Apollo landed on the Moon", retrieval_type="hybrid", fusion_method="max")
    assert as_max.chunks[0].scoring_details.fusion_method == "max" and as_max.chunks[0].score == 1.0

    # `or` matching finds chunks holding any of the terms; `and` (the default) only those holding all
    assert search(cf, account, "kb", "kerosene lunar", retrieval_type="keyword").chunks == []
    either = search(cf, account, "kb", "kerosene lunar", retrieval_type="keyword", keyword_match_mode="or")
    assert sorted(keys(either)) == ["space/moon.docx", "space/rockets.pdf"]


def test_messages_threshold_and_limits(kb):
    cf, account, _ = kb
    result = cf.aisearch.namespaces.instances.search(
        "kb", account_id=account, name="default",
        messages=[{"role": "user", "content": "tell me about dogs"}, {"role": "assistant", "content": "ok"},
                  {"role": "user", "content": "Which animals bark at strangers?"}],
        aisearch_options={"retrieval": {"retrieval_type": "vector", "max_num_results": 1}})
    assert keys(result) == ["guides/dogs.html"] and result.search_query == "Which animals bark at strangers?"
    strict = search(cf, account, "kb", "which animals bark", retrieval_type="vector", match_threshold=0.99)
    assert strict.chunks == []
    everything = search(cf, account, "kb", "which animals bark", retrieval_type="vector", match_threshold=0,
                        max_num_results=50)
    assert len(everything.chunks) == sum(1 for _ in CORPUS)  # one chunk each, all returned at threshold 0


def test_metadata_filters(kb):
    cf, account, _ = kb
    for kind in ("vector", "keyword", "hybrid"):
        space = search(cf, account, "kb", "Moon rocket cats dogs Python", retrieval_type=kind, match_threshold=0,
                       keyword_match_mode="or", filters={"folder": "space/"})
        assert set(keys(space)) == {"space/moon.docx", "space/rockets.pdf"}, kind
        newer = search(cf, account, "kb", "Moon rocket cats dogs Python", retrieval_type=kind, match_threshold=0,
                       keyword_match_mode="or", filters={"version": {"$gte": 2}})
        assert keys(newer) == ["space/moon.docx"], kind
        pets = search(cf, account, "kb", "Moon rocket cats dogs Python", retrieval_type=kind, match_threshold=0,
                      keyword_match_mode="or", filters={"category": {"$in": ["pets"]}, "filename": {"$ne": "guides/dogs.html"}})
        assert keys(pets) == ["guides/cats.md"], kind


@pytest.mark.parametrize("body, words", [
    ({}, "give a `query`"),
    ({"query": "a", "messages": [{"role": "user", "content": "b"}]}, "not both"),
    ({"query": ""}, "non-empty"),
    ({"messages": [{"role": "assistant", "content": "hi"}]}, "no user message"),
    ({"query": "x", "ai_search_options": {"retrieval": {"retrieval_type": "fuzzy"}}}, "retrieval_type"),
    ({"query": "x", "ai_search_options": {"retrieval": {"max_num_results": 500}}}, "max_num_results"),
    ({"query": "x", "ai_search_options": {"retrieval": {"filters": {"folder": {"$regex": "x"}}}}}, "unsupported operator"),
    ({"query": "x", "ai_search_options": {"retrieval": {"context_expansion": 9}}}, "context_expansion"),
    ({"query": "x", "ai_search_options": {"query_rewrite": True}}, "query_rewrite"),
    ({"query": "x", "ai_search_options": []}, "ai_search_options"),
])
def test_bad_search_requests_are_400(kb, http, body, words):
    _, account, _ = kb
    response = http.post(f"/client/v4/accounts/{account}/ai-search/instances/kb/search", json=body)
    assert response.status_code == 400, response.text
    assert words in response.json()["errors"][0]["message"]


def test_reranking_without_weights_is_a_clear_4xx(kb):
    cf, account, _ = kb
    with pytest.raises(cloudflare.BadRequestError) as caught:
        cf.aisearch.namespaces.instances.search("kb", account_id=account, name="default", query="cats",
                                                aisearch_options={"reranking": {"enabled": True}})
    message = caught.value.errors[0].message if caught.value.errors else str(caught.value)
    assert "@cf/baai/bge-reranker-base" in str(caught.value.body) and "kumo models pull" in str(caught.value.body)
    assert message


def test_delete_removes_chunks_from_both_indexes(cf, account):
    cf.aisearch.namespaces.instances.create("default", account_id=account, id="docs", chunk_size=64)
    keep = upload(cf, account, "docs", "keep.md", b"Giraffes have long necks and eat acacia leaves.")
    gone = upload(cf, account, "docs", "gone.md", b"Zeppelins are rigid airships. " * 40)
    assert gone.chunks_count > 1
    chunk_ids = [c.id for c in cf.aisearch.namespaces.instances.items.chunks(gone.id, account_id=account,
                                                                              name="default", id="docs")]
    before = cf.aisearch.namespaces.instances.stats("docs", account_id=account, name="default")
    assert before.engine.vectorize.vectors_count == keep.chunks_count + gone.chunks_count
    assert search(cf, account, "docs", "zeppelins airships", retrieval_type="keyword").chunks

    assert cf.aisearch.namespaces.instances.items.delete(gone.id, account_id=account, name="default",
                                                         id="docs").key == "gone.md"
    assert search(cf, account, "docs", "zeppelins airships", retrieval_type="keyword").chunks == []
    vector = search(cf, account, "docs", "zeppelin airships and giraffes", retrieval_type="vector", match_threshold=0)
    assert keys(vector) == ["keep.md"]
    assert cf.vectorize.indexes.get_by_ids("ai-search-docs", account_id=account, ids=chunk_ids) == []
    after = cf.aisearch.namespaces.instances.stats("docs", account_id=account, name="default")
    assert after.engine.vectorize.vectors_count == keep.chunks_count
    with pytest.raises(cloudflare.NotFoundError):
        cf.aisearch.namespaces.instances.items.get(gone.id, account_id=account, name="default", id="docs")


def test_unreadable_files_are_errors_in_the_item_and_its_logs(cf, account, http):
    cf.aisearch.namespaces.instances.create("default", account_id=account, id="docs")
    broken = upload(cf, account, "docs", "broken.pdf", b"%PDF-1.4 this is not really a pdf")
    assert broken.status == "error" and "not a readable PDF" in broken.error and broken.chunks_count == 0
    scanned = upload(cf, account, "docs", "empty.docx", make_docx([]))
    assert scanned.status == "error" and "no text" in scanned.error
    logs = cf.aisearch.namespaces.instances.items.logs(broken.id, account_id=account, name="default", id="docs")
    assert [(log.action, log.error_type) for log in logs] == [("index", "conversion_error")]
    assert "not a readable PDF" in logs[0].message
    errors = cf.aisearch.namespaces.instances.items.list("docs", account_id=account, name="default", status="error")
    assert sorted(i.key for i in errors) == ["broken.pdf", "empty.docx"]
    # a type kumo cannot read at all is refused at upload, and nothing is stored
    response = http.post(f"/client/v4/accounts/{account}/ai-search/namespaces/default/instances/docs/items",
                         files={"file": ("tool.exe", b"MZ\x90\x00")})
    assert response.status_code == 400 and "unsupported file type .exe" in response.json()["errors"][0]["message"]
    assert len(list(cf.aisearch.namespaces.instances.items.list("docs", account_id=account, name="default"))) == 2


def test_reupload_embeds_only_when_the_bytes_change(cf, account):
    cf.aisearch.namespaces.instances.create("default", account_id=account, id="docs")
    first = upload(cf, account, "docs", "a.md", b"Version one of the text about owls.")
    same = upload(cf, account, "docs", "a.md", b"Version one of the text about owls.")
    assert same.id == first.id
    logs = cf.aisearch.namespaces.instances.items.logs(first.id, account_id=account, name="default", id="docs")
    assert len(logs) == 1  # the second upload did not index again
    changed = upload(cf, account, "docs", "a.md", b"Version two is about badgers instead.")
    assert changed.id == first.id and changed.checksum != first.checksum
    assert search(cf, account, "docs", "owls", retrieval_type="keyword").chunks == []
    assert keys(search(cf, account, "docs", "badgers", retrieval_type="keyword")) == ["a.md"]
    stats = cf.aisearch.namespaces.instances.stats("docs", account_id=account, name="default")
    assert stats.engine.vectorize.vectors_count == changed.chunks_count


def test_context_expansion(cf, account):
    cf.aisearch.namespaces.instances.create("default", account_id=account, id="docs", chunk_size=64, chunk_overlap=0)
    text = "\n\n".join(f"Paragraph {n} talks about topic number {n} in some detail, with several more words to "
                       f"fill it up to a reasonable length for chunking." for n in range(12))
    upload(cf, account, "docs", "long.md", text.encode())
    plain = search(cf, account, "docs", "topic number 6", retrieval_type="keyword", max_num_results=1)
    wide = search(cf, account, "docs", "topic number 6", retrieval_type="keyword", max_num_results=1,
                  context_expansion=1)
    assert plain.chunks[0].id == wide.chunks[0].id
    assert len(wide.chunks[0].text) > len(plain.chunks[0].text) and plain.chunks[0].text in wide.chunks[0].text


def test_upload_without_waiting_indexes_in_the_background(cf, account):
    cf.aisearch.namespaces.instances.create("default", account_id=account, id="docs")
    item = cf.aisearch.namespaces.instances.items.upload(
        "docs", account_id=account, name="default", file={"file": ("later.md", b"Okapis live in rainforests.")})
    assert item.status in ("queued", "running", "completed")
    deadline = time.monotonic() + 60
    while item.status != "completed" and time.monotonic() < deadline:
        time.sleep(0.1)
        item = cf.aisearch.namespaces.instances.items.get(item.id, account_id=account, name="default", id="docs")
    assert item.status == "completed"
    assert keys(search(cf, account, "docs", "okapis rainforests", retrieval_type="keyword")) == ["later.md"]
    newest = cf.aisearch.namespaces.instances.items.list("docs", account_id=account, name="default",
                                                         sort_by="modified_at")
    assert [i.key for i in newest] == ["later.md"]
