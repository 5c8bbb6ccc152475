"""`ai_gateway_id`: an instance's query rewriting and answer generation go through that AI Gateway (kumo's own
pipeline, workers-ai provider), so they show in the gateway's logs (read with the `cloudflare` SDK) and obey
its rate limit; embeddings stay AI Search's own calls, as on Cloudflare."""

from __future__ import annotations

import time
import uuid

import cloudflare
import pytest

from tests.aisearch.helpers import ON_SQLITE_ONLY, upload

pytestmark = ON_SQLITE_ONLY  # the cost is the LLM; the storage paths are the parametrized tests'
QUESTION = [{"role": "user", "content": "What do koalas eat?"}]


def _gateway(cf, account, gateway_id, **limits):
    cf.ai_gateway.create(account_id=account, id=gateway_id, cache_invalidate_on_update=False, cache_ttl=0,
                         collect_logs=True, rate_limiting_interval=limits.get("interval"),
                         rate_limiting_limit=limits.get("limit"))


def _logs(cf, account, gateway_id, at_least):
    deadline = time.monotonic() + 30
    while True:
        logs = list(cf.ai_gateway.logs.list(gateway_id, account_id=account))
        if len(logs) >= at_least or time.monotonic() > deadline:
            return logs
        time.sleep(0.2)


def test_model_calls_go_through_the_gateway(cf):
    account = "acct-gw-" + uuid.uuid4().hex[:8]
    _gateway(cf, account, "rag")
    ns = cf.aisearch.namespaces.instances
    created = ns.create("default", account_id=account, id="koalas", ai_gateway_id="rag")
    assert created.ai_gateway_id == "rag"
    upload(cf, account, "koalas", "koalas.md", b"# Koalas\n\nKoalas eat eucalyptus leaves almost exclusively.")
    assert _logs(cf, account, "rag", 0) == []  # indexing embeddings are AI Search's own, not the gateway's

    answer = ns.chat_completions("koalas", account_id=account, name="default", messages=QUESTION,
                                 extra_body={"max_tokens": 8})
    assert answer.choices[0].message.content.strip() and answer.chunks[0].item.key == "koalas.md"
    logs = _logs(cf, account, "rag", 1)
    assert len(logs) == 1 and logs[0].provider == "workers-ai"
    assert logs[0].model == "@cf/meta/llama-3.3-70b-instruct-fp8-fast" and logs[0].success

    ns.search("koalas", account_id=account, name="default", query="koala food please",
              aisearch_options={"query_rewrite": {"enabled": True}})
    assert len(_logs(cf, account, "rag", 2)) == 2  # the rewrite went through the gateway too

    with ns.with_streaming_response.chat_completions("koalas", account_id=account, name="default",
                                                     messages=QUESTION, stream=True,
                                                     extra_body={"max_tokens": 8}) as streamed:
        text = "".join(streamed.iter_text())
    assert "event: chunks" in text and "data: [DONE]" in text
    assert len(_logs(cf, account, "rag", 3)) == 3


def test_the_gateway_rate_limit_applies(cf):
    account = "acct-gw-" + uuid.uuid4().hex[:8]
    _gateway(cf, account, "tight", limit=1, interval=60)
    ns = cf.aisearch.namespaces.instances
    ns.create("default", account_id=account, id="limited", ai_gateway_id="tight")
    upload(cf, account, "limited", "koalas.md", b"Koalas sleep up to twenty hours a day.")
    ns.chat_completions("limited", account_id=account, name="default", messages=QUESTION, extra_body={"max_tokens": 4})
    with pytest.raises(cloudflare.RateLimitError) as caught:
        ns.chat_completions("limited", account_id=account, name="default", messages=QUESTION,
                            extra_body={"max_tokens": 4})
    assert "tight" in caught.value.body["errors"][0]["message"]
    # searches without rewriting make no text-generation call: the gateway's limit does not touch them
    assert ns.search("limited", account_id=account, name="default", query="koalas sleep").chunks


def test_the_gateway_must_exist(cf):
    account = "acct-gw-" + uuid.uuid4().hex[:8]
    with pytest.raises(cloudflare.BadRequestError) as caught:
        cf.aisearch.namespaces.instances.create("default", account_id=account, id="nogw", ai_gateway_id="missing")
    assert "ai_gateway_id" in caught.value.body["errors"][0]["message"]
    cf.aisearch.namespaces.instances.create("default", account_id=account, id="later")
    with pytest.raises(cloudflare.BadRequestError):
        cf.aisearch.namespaces.instances.update("later", account_id=account, name="default", ai_gateway_id="missing")
    _gateway(cf, account, "missing")
    updated = cf.aisearch.namespaces.instances.update("later", account_id=account, name="default",
                                                      ai_gateway_id="missing")
    assert updated.ai_gateway_id == "missing"
