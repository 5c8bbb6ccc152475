"""The rule for every instance setting the API accepts: applied, or refused with a 400 that names it. This walks
the whole settings schema (kumo.aisearch.instance_config.DEFAULTS): each setting is either applied (a non-default value
is accepted, stored and read back, and a named test shows its effect) or refused (a non-default value is a 400
naming it, nothing is stored, and its off/default value, which the SDK and dashboard send, is accepted)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from kumo.aisearch import instance_config as cfg

HERE = Path(__file__).parent

# setting -> (a value other than the default, "module::test" that shows the setting at work)
APPLIED = {
    "embedding_model": ("@cf/baai/bge-small-en-v1.5", "test_items_search::test_vector_keyword_and_hybrid_retrieval"),
    "ai_search_model": ("@cf/meta/llama-3.2-1b-instruct", "test_chat::test_answer_with_sources"),
    "rewrite_model": ("@cf/meta/llama-3.2-1b-instruct", "test_chat::test_query_rewrite_uses_the_llm"),
    "reranking_model": ("@cf/baai/bge-reranker-base", "test_items_search::test_reranking_without_weights_is_a_clear_4xx"),
    "chunk": (False, "test_pipeline_units::test_chunks_respect_size_overlap_and_boundaries"),
    "chunk_size": (128, "test_sync::test_changing_chunking_reindexes"),
    "chunk_overlap": (20, "test_pipeline_units::test_chunks_respect_size_overlap_and_boundaries"),
    "index_method": ({"vector": False, "keyword": True}, "test_items_search::test_vector_keyword_and_hybrid_retrieval"),
    "fusion_method": ("max", "test_pipeline_units::test_rrf_and_max_fusion"),
    "max_num_results": (3, "test_items_search::test_messages_threshold_and_limits"),
    "score_threshold": (0.7, "test_items_search::test_messages_threshold_and_limits"),
    "rewrite_query": (True, "test_chat::test_query_rewrite_uses_the_llm"),
    "reranking": (True, "test_items_search::test_reranking_without_weights_is_a_clear_4xx"),
    "custom_metadata": ([{"field_name": "team", "data_type": "text"}], "test_items_search::test_metadata_filters"),
    "source": (None, "test_r2_source::test_bucket_source_syncs_by_etag"),
    "type": (None, "test_r2_source::test_bucket_source_syncs_by_etag"),
    "source_params": ({"prefix": "docs/"}, "test_r2_source::test_bucket_source_syncs_by_etag"),
    "sync_interval": (900, "test_durability_and_schedule::test_scheduler_syncs_when_the_interval_has_passed"),
    "cache": (True, "test_ranking_settings::test_similarity_cache"),
    "cache_threshold": ("anything_goes", "test_ranking_settings::test_similarity_cache"),
    "cache_ttl": (600, "test_ranking_settings::test_similarity_cache"),
    "retrieval_options": ({"keyword_match_mode": "or", "boost_by": [{"field": "timestamp", "direction": "desc"}]},
                          "test_ranking_settings::test_boost_by_reorders_by_metadata"),
    "indexing_options": ({"keyword_tokenizer": "trigram", "use_ocr": False},
                         "test_ranking_settings::test_trigram_tokenizer_matches_substrings"),
    "paused": (True, "test_durability_and_schedule::test_scheduler_syncs_when_the_interval_has_passed"),
    "system_prompt_ai_search": ("Answer in French.", "test_pipeline_units::test_system_prompts_reach_the_model"),
    "system_prompt_rewrite_query": ("Keep nouns only.", "test_pipeline_units::test_system_prompts_reach_the_model"),
    "metadata": ({"created_from_aisearch_wizard": True},  # kept and returned as sent: reading it back is its effect
                 "test_settings_rule::test_applied_settings_are_stored_and_read_back"),
    "ai_gateway_id": ("gw-settings", "test_gateway_routing::test_model_calls_go_through_the_gateway"),
}
# setting -> (a value kumo refuses, the off/default value it accepts)
REFUSED = {
    "token_id": ("tok", None),
    "public_endpoint_params": ({"enabled": True}, {"enabled": False}),
}
# inside the objects: sub-settings refused when switched on
REFUSED_NESTED = [
    ("indexing_options", {"use_ocr": True}, "use_ocr"),
    ("source_params", {"r2_jurisdiction": "eu"}, "r2_jurisdiction"),
    ("source_params", {"web_crawler": {"parse_type": "crawl"}}, "web_crawler"),
    ("type", "web-crawler", "web-crawler"),
]


def _tests_defined() -> set[str]:
    found = set()
    for path in HERE.glob("test_*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                found.add(f"{path.stem}::{node.name}")
    return found


def test_every_setting_is_classified_and_its_evidence_exists():
    assert set(APPLIED) | set(REFUSED) == set(cfg.DEFAULTS), "a setting must be applied or refused"
    assert not set(APPLIED) & set(REFUSED)
    assert set(REFUSED) == set(cfg.REFUSED)
    missing = {evidence for _, evidence in APPLIED.values()} - _tests_defined()
    assert not missing, f"evidence tests that do not exist: {missing}"


def test_applied_settings_are_stored_and_read_back(http, cf, account):
    cf.ai_gateway.create(account_id=account, id="gw-settings", cache_invalidate_on_update=False, cache_ttl=0,
                         collect_logs=True, rate_limiting_interval=None, rate_limiting_limit=None)
    base = f"/client/v4/accounts/{account}/ai-search/instances"
    for n, (setting, (value, _)) in enumerate(APPLIED.items()):
        if setting in ("source", "type"):
            continue  # fixed at creation, proven by the R2 source tests
        body = {"id": f"applied-{n}", setting: value}
        if setting in ("retrieval_options",):
            body["index_method"] = {"vector": True, "keyword": True}
        r = http.post(base, json=body)
        assert r.status_code == 201, (setting, r.text)
        stored = http.get(f"{base}/applied-{n}").json()["result"]
        if isinstance(value, dict):
            assert {k: stored[setting].get(k) for k in value} == value, setting
        else:
            assert stored[setting] == value, setting


@pytest.mark.parametrize("setting", sorted(REFUSED))
def test_refused_settings_name_themselves(http, account, setting):
    base = f"/client/v4/accounts/{account}/ai-search/instances"
    refused, accepted = REFUSED[setting]
    r = http.post(base, json={"id": "refused", setting: refused})
    assert r.status_code == 400 and f"`{setting}`" in r.json()["errors"][0]["message"]
    assert http.get(f"{base}/refused").status_code == 404
    r = http.post(base, json={"id": "accepted", setting: accepted})
    assert r.status_code == 201, r.text
    r = http.put(f"{base}/accepted", json={setting: refused})
    assert r.status_code == 400 and f"`{setting}`" in r.json()["errors"][0]["message"]


@pytest.mark.parametrize("setting, value, named", REFUSED_NESTED)
def test_refused_sub_settings_name_themselves(http, account, setting, value, named):
    r = http.post(f"/client/v4/accounts/{account}/ai-search/instances", json={"id": "nested", setting: value})
    assert r.status_code == 400 and named in r.json()["errors"][0]["message"], r.text


def test_the_sdk_default_create_still_works(cf, account):
    created = cf.aisearch.namespaces.instances.create("default", account_id=account, id="plain", cache=False,
                                                      cache_threshold="close_enough", ai_gateway_id=None,
                                                      public_endpoint_params={"enabled": False},
                                                      indexing_options={"keyword_tokenizer": "porter"})
    assert created.cache is False and created.ai_gateway_id is None and created.cache_ttl == 172800
