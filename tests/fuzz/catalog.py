"""Every route the fuzz suite drives: the app's own routes (enumerated from the app, so a new route is fuzzed
without being listed) plus the gateway's data plane, which front.py serves outside FastAPI's router. A valid
example body per route lets the mutations reach past the first check."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tests.fuzz.strategies import HOSTILE_STRINGS

ACCOUNT = "fuzz-acct"
INDEX = "fz-index"
INSTANCE = "fz-search"
GATEWAY = "fz-gw"
DIMS = 4
VECTOR = [0.1, 0.2, 0.3, 0.4]
CHAT = {"model": "@cf/meta/llama-3.1-8b-instruct", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
TOOLS = [{"type": "function", "function": {"name": "f", "description": "d",
                                           "parameters": {"type": "object", "properties": {"a": {"type": "string"}}}}}]

# what each `{param}` of a path may be: the seeded resource (so the request reaches the handler), or hostility
PARAMS: dict[str, list[str]] = {
    "account_id": [ACCOUNT] * 8 + ["\ud83d", "a" * 300],
    "index_name": [INDEX] * 4 + HOSTILE_STRINGS,
    "name": ["default"] * 4 + HOSTILE_STRINGS,
    "id": [INSTANCE] * 4 + HOSTILE_STRINGS,
    "gateway_id": [GATEWAY] * 4 + HOSTILE_STRINGS,
    "provider": ["openai", "compat", "anthropic", "\ud83d", "nope"],
    "model": ["@cf/baai/bge-small-en-v1.5", "@cf/nope/model", "\ud83d", "@cf/meta/llama-3.1-8b-instruct"],
    "job_id": ["nope", "\ud83d"],
    "item_id": ["nope", "\ud83d", "a" * 300],
    "log_id": ["nope", "\ud83d"],
    "route_id": ["nope", "\ud83d"],
    "key_id": ["nope", "\ud83d"],
    "version": ["v1", "nope", "\ud83d", "a" * 300],
    "bucket_name": ["fz-bucket", "nope", "\ud83d", "a" * 300, "UPPER"],
    "script_name": ["fz-worker", "\ud83d", "a" * 300],
    # the dashboard's pages
    "index": [INDEX] * 4 + HOSTILE_STRINGS,
    "namespace": ["default"] * 4 + HOSTILE_STRINGS,
    "instance_id": [INSTANCE] * 4 + HOSTILE_STRINGS,
}

BODIES: dict[tuple[str, str], Any] = {
    # batch scoring over R2: reaches the input's download (no such bucket) past the body's checks
    ("POST", "/ai/scoring-jobs"): {"model": "@cf/baai/bge-small-en-v1.5", "input": "r2://fz-bucket/in.csv",
                                   "output": "r2://fz-bucket/out.csv", "columns": ["text"], "chunk_rows": 100},
    # Vectorize
    ("POST", "/vectorize/v2/indexes"): {"name": "fz-new", "config": {"dimensions": DIMS, "metric": "cosine"},
                                        "description": "d"},
    ("POST", "/vectorize/v2/indexes/{index_name}/insert"): {"id": "v1", "values": VECTOR, "metadata": {"k": "v"},
                                                           "namespace": "ns"},
    ("POST", "/vectorize/v2/indexes/{index_name}/upsert"): {"id": "v1", "values": VECTOR, "metadata": {"k": "v"}},
    ("POST", "/vectorize/v2/indexes/{index_name}/query"): {"vector": VECTOR, "topK": 2, "returnValues": True,
                                                          "returnMetadata": "all", "filter": {"k": {"$eq": "v"}},
                                                          "namespace": "ns"},
    ("POST", "/vectorize/v2/indexes/{index_name}/get_by_ids"): {"ids": ["v1", "v2"]},
    ("POST", "/vectorize/v2/indexes/{index_name}/delete_by_ids"): {"ids": ["nope-1"]},
    ("POST", "/vectorize/v2/indexes/{index_name}/metadata_index/create"): {"propertyName": "k2", "indexType": "string"},
    ("POST", "/vectorize/v2/indexes/{index_name}/metadata_index/delete"): {"propertyName": "nope"},
    # Workers AI
    ("POST", "/ai/run/{model:path}"): {"text": ["hello"]},
    ("POST", "/ai/run"): {"model": "@cf/baai/bge-small-en-v1.5", "input": {"text": "hello"}},
    ("POST", "/ai/v1/chat/completions"): {**CHAT, "tools": TOOLS, "stream_options": {"include_usage": True},
                                          "tool_choice": "none", "messages": [
                                              {"role": "user", "content": "hi"},
                                              {"role": "assistant", "content": None, "tool_calls": [
                                                  {"id": "c1", "type": "function",
                                                   "function": {"name": "f", "arguments": "{}"}}]},
                                              {"role": "tool", "tool_call_id": "c1", "content": "ok"}]},
    ("POST", "/ai/v1/embeddings"): {"model": "@cf/baai/bge-small-en-v1.5", "input": ["hello"],
                                    "encoding_format": "float"},
    # the unified REST API: Responses and Messages translated for a third-party model, and on a Workers AI one
    ("POST", "/ai/v1/responses"): {
        "model": "anthropic/claude-3-5-haiku-latest", "instructions": "x", "max_output_tokens": 1,
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
                  {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                  {"type": "function_call_output", "call_id": "c1", "output": "ok"}],
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}], "tool_choice": "auto"},
    ("POST", "/ai/v1/messages"): {
        "model": "openai/gpt-4o-mini", "max_tokens": 1, "system": "x", "tools": [
            {"name": "f", "input_schema": {"type": "object"}}], "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]}]},
    ("POST", "/ai/v1/v1/messages"): {"model": "@cf/meta/llama-3.1-8b-instruct", "max_tokens": 1,
                                     "messages": [{"role": "user", "content": "hi"}]},
    # AI Search
    ("POST", "/ai-search/namespaces"): {"name": "fz-ns", "description": "d"},
    ("PUT", "/ai-search/namespaces/{name}"): {"description": "d"},
    ("POST", "/search"): {"messages": [{"role": "user", "content": "hello"}],
                          "ai_search_options": {"retrieval": {"max_num_results": 2, "filters": {"category": "a"},
                                                              "boost_by": [{"field": "timestamp", "direction": "desc"}]},
                                                "cache": {"enabled": True, "cache_threshold": "close_enough"}}},
    ("POST", "/chat/completions"): {"messages": [{"role": "user", "content": "hello"}], "stream": False,
                                    "ai_search_options": {"retrieval": {"max_num_results": 1}}},
    ("POST", "/instances"): {"id": "fz-new", "custom_metadata": [{"field_name": "category", "data_type": "text"}],
                             "chunk_size": 256, "max_num_results": 5,
                             "index_method": {"vector": False, "keyword": True}},
    ("PUT", "/instances/{id}"): {"max_num_results": 5, "score_threshold": 0.4, "cache": True, "cache_ttl": 600,
                                 "system_prompt_ai_search": "x",
                                 "retrieval_options": {"boost_by": [{"field": "category", "direction": "exists"}]}},
    ("POST", "/jobs"): {"description": "d"},
    ("PATCH", "/jobs/{job_id}"): {"action": "cancel"},
    ("PUT", "/items"): {"key": "a.txt", "next_action": "INDEX"},
    ("PATCH", "/items/{item_id}"): {"next_action": "INDEX"},
    # AI Gateway management
    ("POST", "/ai-gateway/gateways"): {"id": "fz-new", "cache_invalidate_on_update": False, "cache_ttl": None,
                                       "collect_logs": True, "rate_limiting_interval": None,
                                       "rate_limiting_limit": None},
    ("PUT", "/ai-gateway/gateways/{gateway_id}"): {"cache_invalidate_on_update": False, "cache_ttl": 60,
                                                   "collect_logs": True, "rate_limiting_interval": None,
                                                   "rate_limiting_limit": None, "logpush": False,
                                                   "logpush_public_key": None},
    ("PATCH", "/logs/{log_id}"): {"feedback": 1, "score": 50, "metadata": {"a": "b"}},
    ("POST", "/routes"): {"name": "fz-route", "elements": [
        {"id": "s", "type": "start", "properties": {}, "outputs": {"next": {"elementId": "m"}}},
        {"id": "m", "type": "model", "properties": {"provider": "openai", "model": "gpt-4o"},
         "outputs": {"success": {"elementId": "e"}, "fallback": {"elementId": "e"}}},
        {"id": "e", "type": "end", "properties": {}, "outputs": {}}]},
    ("PATCH", "/routes/{route_id}"): {"name": "fz-route"},
    ("POST", "/deployments"): {"version_id": "1"},
    # AI Gateway data plane
    ("POST", "/v1/{account_id}/{gateway_id}/{provider}/{path}"): {"model": "gpt-4o-mini", "messages": [
        {"role": "user", "content": "hi"}], "max_tokens": 1},
    ("POST", "/v1/{account_id}/{gateway_id}/compat/chat/completions"): {
        "model": "anthropic/claude-3-5-haiku-latest", "messages": [{"role": "user", "content": "hi"},
                                                   {"role": "assistant", "content": None, "tool_calls": [
                                                       {"id": "c1", "type": "function",
                                                        "function": {"name": "f", "arguments": "{}"}}]},
                                                   {"role": "tool", "tool_call_id": "c1", "content": "ok"}],
        "tools": TOOLS, "stream_options": {"include_usage": True}, "max_tokens": 1},
    ("POST", "/v1/{account_id}/{gateway_id}"): [{"provider": "openai", "endpoint": "chat/completions",
                                                 "headers": {"authorization": "Bearer sk-fuzz"},
                                                 "config": {"requestTimeout": 5000, "maxAttempts": 1},
                                                 "query": {"model": "gpt-4o-mini",
                                                           "messages": [{"role": "user", "content": "hi"}]}}],
}
DATA_PLANE = [
    ("POST", "/v1/{account_id}/{gateway_id}/{provider}/{path}"),
    ("GET", "/v1/{account_id}/{gateway_id}/{provider}/{path}"),
    ("POST", "/v1/{account_id}/{gateway_id}/compat/chat/completions"),
    ("POST", "/v1/{account_id}/{gateway_id}"),
]
# paths no route serves, and methods a route does not take: 404 and 405 in the product's shape too
ODD_PATHS = [
    ("GET", "/v1/{account_id}"), ("DELETE", "/v1/{account_id}/{gateway_id}"),
    ("GET", "/client/v4/accounts/{account_id}/ai/v1/models"),
    ("GET", "/client/v4/accounts/{account_id}/ai/v1/chat/completions"),
    ("PUT", "/client/v4/accounts/{account_id}/vectorize/v2/indexes/{index_name}/query"),
    ("PATCH", "/client/v4/accounts/{account_id}/ai-search/instances/{id}/search"),
    ("POST", "/client/v4/accounts/{account_id}/ai-gateway/gateways/{gateway_id}/nope"),
    ("GET", "/client/v4/accounts/{account_id}/nope"), ("GET", "/dashboard/{account_id}/nope"),
]
PARAMS["path"] = ["chat/completions", "v1/models", "..%2F..%2Fadmin", "\ud83d"]
SKIP = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/metrics"}


@dataclass(frozen=True)
class Target:
    product: str
    method: str
    path: str  # a template with {params}
    body: Any = field(default=None, hash=False, compare=False)

    @property
    def ndjson(self) -> bool:
        return self.path.endswith(("/insert", "/upsert"))


def product_of(path: str) -> str:
    if path.startswith("/v1/"):
        return "gateway"
    if path.startswith("/dashboard"):
        return "dashboard"
    for marker, product in (("/vectorize/", "vectorize"), ("/ai-gateway/", "gateway-admin"),
                            ("/ai-search/", "aisearch"), ("/ai/v1/", "openai"), ("/ai/", "workers-ai")):
        if marker in path:
            return product
    return "other"


def _body_for(method: str, path: str) -> Any:
    short = path.removeprefix("/client/v4/accounts/{account_id}")
    for (m, suffix), body in BODIES.items():
        if m == method and (short == suffix or (short.endswith(suffix) and suffix.startswith("/") and
                                                not suffix.startswith(("/vectorize", "/ai", "/v1")))):
            return body
    if path in {p for _, p in DATA_PLANE}:
        return BODIES.get((method, path))
    return {} if method in ("POST", "PUT", "PATCH") else None


def targets() -> list[Target]:
    from tempfile import TemporaryDirectory

    from kumo.app import create_app
    from kumo.config import Settings

    with TemporaryDirectory() as tmp:
        app = create_app(Settings(data_dir=tmp))
        found = set()
        for path, route in _walk(app.routes):
            if path in SKIP:
                continue
            for method in sorted(getattr(route, "methods", None) or []):
                if method != "HEAD":
                    found.add((method, path))
        found.update(DATA_PLANE)
        found.update(ODD_PATHS)
        app.state.platform.close()
    return [Target(product_of(path), method, path, _body_for(method, path)) for method, path in sorted(found)]


def _walk(routes, prefix: str = "", owner_prefix: str = ""):
    """(full path, route): a router included in another keeps its parent router's prefix out of its routes' paths."""
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI's included router
            sub = route.original_router
            yield from _walk(sub.routes, prefix + owner_prefix + route.include_context.prefix, sub.prefix)
        else:
            yield prefix + route.path, route


PARAM = re.compile(r"{([a-z_]+)(?::path)?}")
