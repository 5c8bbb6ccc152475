"""Grounded chat completions through the `cloudflare` SDK: the real SmolLM2 stand-in answers, the response
lists the chunks used as sources, and streaming sends them first."""

from __future__ import annotations

import json
import uuid

import cloudflare
import pytest

from tests.aisearch.helpers import ON_SQLITE_ONLY, upload

pytestmark = ON_SQLITE_ONLY
QUESTION = [{"role": "user", "content": "How long do cats sleep every day?"}]


@pytest.fixture(scope="module")
def pets(server):
    from cloudflare import Cloudflare

    cf = Cloudflare(api_token="dev-token", base_url=server.url + "/client/v4", max_retries=0)
    account = "acct-chat-" + uuid.uuid4().hex[:8]
    cf.aisearch.namespaces.instances.create("default", account_id=account, id="pets")
    upload(cf, account, "pets", "cats.md", b"# Cats\n\nCats sleep for about fifteen hours every day.")
    upload(cf, account, "pets", "rockets.md", b"# Rockets\n\nRockets burn kerosene with liquid oxygen.")
    yield cf, account
    cf.close()


def test_answer_with_sources(pets):
    cf, account = pets
    raw = cf.aisearch.namespaces.instances.with_raw_response.chat_completions(
        "pets", account_id=account, name="default", messages=QUESTION,
        aisearch_options={"retrieval": {"max_num_results": 2}}, extra_body={"max_tokens": 24})
    assert raw.headers["x-kumo-model"] == "@kumo/smollm2-135m-instruct"  # the declared stand-in that really ran
    answer = raw.parse()
    assert answer.object == "chat.completion" and answer.model == "@cf/meta/llama-3.3-70b-instruct-fp8-fast"
    assert answer.choices[0].message.role == "assistant"
    assert isinstance(answer.choices[0].message.content, str) and answer.choices[0].message.content.strip()
    assert answer.chunks[0].item.key == "cats.md" and "fifteen hours" in answer.chunks[0].text
    assert answer.usage["completion_tokens"] <= 24


def test_streamed_answer_sends_sources_first(pets):
    cf, account = pets
    with cf.aisearch.namespaces.instances.with_streaming_response.chat_completions(
            "pets", account_id=account, name="default", messages=QUESTION, stream=True,
            extra_body={"max_tokens": 16}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        blocks = [b for b in response.read().decode().split("\n\n") if b]
    # Cloudflare's order: the retrieved chunks as their own named event, then the completion, then [DONE]
    assert blocks[0].startswith("event: chunks\ndata: ")
    sources = json.loads(blocks[0].split("\ndata: ", 1)[1])
    assert sources[0]["item"]["key"] == "cats.md"
    assert blocks[-1] == "data: [DONE]"
    assert all(b.startswith("data: ") for b in blocks[1:])
    events = [json.loads(b[6:]) for b in blocks[1:-1]]
    assert all("chunks" not in e for e in events)
    text = "".join(c["delta"].get("content") or "" for e in events for c in e["choices"])
    assert text.strip()
    assert any(c.get("finish_reason") in ("stop", "length") for e in events for c in e["choices"])
    assert events[-1]["usage"]["completion_tokens"] <= 16


def test_no_match_still_answers_without_sources(pets):
    cf, account = pets
    answer = cf.aisearch.namespaces.instances.chat_completions(
        "pets", account_id=account, name="default", messages=[{"role": "user", "content": "zzzz qqqq"}],
        aisearch_options={"retrieval": {"retrieval_type": "keyword"}}, extra_body={"max_tokens": 8})
    assert answer.chunks == [] and answer.choices[0].message.content is not None


def test_bad_chat_requests(pets, http):
    cf, account = pets
    with pytest.raises(cloudflare.BadRequestError, match="text-generation"):
        cf.aisearch.namespaces.instances.chat_completions("pets", account_id=account, name="default",
                                                          messages=QUESTION, model="@cf/baai/bge-small-en-v1.5")
    url = f"/client/v4/accounts/{account}/ai-search/instances/pets/chat/completions"
    assert http.post(url, json={"messages": []}).status_code == 400
    assert http.post(url, json={"messages": QUESTION, "max_tokens": 0}).status_code == 400
    with pytest.raises(cloudflare.NotFoundError):
        cf.aisearch.namespaces.instances.chat_completions("nope", account_id=account, name="default",
                                                          messages=QUESTION)


def test_query_rewrite_uses_the_llm(pets):
    cf, account = pets
    result = cf.aisearch.namespaces.instances.search(
        "pets", account_id=account, name="default", query="um so like how long do cats usually sleep",
        aisearch_options={"query_rewrite": {"enabled": True}, "retrieval": {"retrieval_type": "vector",
                                                                            "match_threshold": 0}})
    assert isinstance(result.search_query, str) and result.search_query.strip()
    assert result.chunks  # retrieval ran on whatever the model wrote


def test_namespace_search_and_chat_across_instances(pets):
    cf, account = pets
    cf.aisearch.namespaces.instances.create("default", account_id=account, id="space")
    upload(cf, account, "space", "moon.md", b"# Moon\n\nThe Moon has no atmosphere, so its sky is black.")
    options = {"instance_ids": ["pets", "space", "missing"], "retrieval": {"retrieval_type": "vector",
                                                                            "match_threshold": 0}}
    found = cf.aisearch.namespaces.search("default", account_id=account, query="why is the sky black on the moon",
                                          aisearch_options=options)
    assert found.chunks[0].instance_id == "space" and found.chunks[0].item.key == "moon.md"
    assert {c.instance_id for c in found.chunks} == {"pets", "space"}
    assert [(e.instance_id, "not found" in e.message) for e in found.errors] == [("missing", True)]
    scores = [c.score for c in found.chunks]
    assert scores == sorted(scores, reverse=True)

    answer = cf.aisearch.namespaces.chat_completions(
        "default", account_id=account, messages=[{"role": "user", "content": "Why is the Moon's sky black?"}],
        aisearch_options={"instance_ids": ["space"], "retrieval": {"max_num_results": 1}},
        extra_body={"max_tokens": 12})
    assert answer.chunks[0].instance_id == "space" and answer.choices[0].message.content.strip()
    with pytest.raises(cloudflare.BadRequestError, match="instance_ids"):
        cf.aisearch.namespaces.search("default", account_id=account, query="x", aisearch_options={})
