"""An AI Search instance's settings: Cloudflare's defaults, the checks a create or update body must pass,
and the instance object the API answers. Field names follow the `cloudflare` SDK (`ai_search_model` on the
wire for the SDK's `aisearch_model`)."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from kumo.aisearch.errors import bad_config

INSTANCE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
NAMESPACE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
DEFAULT_NAMESPACE = "default"

DEFAULT_EMBEDDING_MODEL = "@cf/baai/bge-small-en-v1.5"
DEFAULT_CHAT_MODEL = "@cf/meta/llama-3.3-70b-instruct-fp8-fast"  # Cloudflare's first listed AI Search model
DEFAULT_RERANKING_MODEL = "@cf/baai/bge-reranker-base"

SYNC_INTERVALS = (900, 1800, 3600, 7200, 14400, 21600, 43200, 86400)
CACHE_TTLS = (600, 1800, 3600, 7200, 21600, 43200, 86400, 172800, 259200, 518400)
CACHE_THRESHOLDS = ("super_strict_match", "close_enough", "flexible_friend", "anything_goes")
METADATA_TYPES = ("text", "number", "boolean", "datetime")
MAX_CUSTOM_METADATA = 5  # Cloudflare's limit per instance
RESERVED_METADATA = ("filename", "folder", "timestamp", "key", "item_id", "part")

DEFAULTS: dict[str, Any] = {
    "embedding_model": DEFAULT_EMBEDDING_MODEL,
    "ai_search_model": DEFAULT_CHAT_MODEL,
    "rewrite_model": DEFAULT_CHAT_MODEL,
    "reranking_model": DEFAULT_RERANKING_MODEL,
    "chunk": True,
    "chunk_size": 256,
    "chunk_overlap": 10,  # percent of chunk_size, 0-30, as Cloudflare's chunking page says
    "index_method": {"vector": True, "keyword": True},
    "fusion_method": "rrf",
    "max_num_results": 10,
    "score_threshold": 0.4,
    "rewrite_query": False,
    "reranking": False,
    "custom_metadata": [],
    "source": None,
    "type": None,
    "source_params": {},
    "sync_interval": 21600,
    "cache": False,
    "cache_threshold": "close_enough",
    "cache_ttl": 172800,  # Cloudflare's default since June 2026 (48 h)
    "retrieval_options": {"keyword_match_mode": "and"},
    "indexing_options": {"keyword_tokenizer": "porter", "use_ocr": False},
    "paused": False,
    "system_prompt_ai_search": None,
    "system_prompt_rewrite_query": None,
    "metadata": {},
    "ai_gateway_id": None,
    "token_id": None,
    "public_endpoint_params": None,
}
# Settings fixed when the instance is created (Cloudflare: "editable after creation: no").
FIXED = ("embedding_model", "source", "type")
# Settings kumo has nothing to apply to: accepted at their off/default value (the SDK and dashboard send them
# so), refused with a 400 naming them and why otherwise: nothing is stored and silently ignored.
REFUSED = {
    "token_id": "kumo reads R2 buckets itself, in process: there is no service API token for an instance to use",
    "public_endpoint_params": "kumo has no public endpoints or MCP server for AI Search",
}
TOKENIZERS = ("porter", "trigram")
BOOST_DIRECTIONS = ("asc", "desc", "exists", "not_exists")
MAX_BOOSTS = 3
MAX_PATH_PATTERNS = 10
# Older or alternative spellings the SDK or docs use for the same setting.
ALIASES = {"aisearch_model": "ai_search_model", "system_prompt_aisearch": "system_prompt_ai_search"}
IGNORED = ("id", "summarization", "summarization_model", "system_prompt_index_summarization")


def _bool(body: dict, key: str) -> None:
    if key in body and not isinstance(body[key], bool):
        raise bad_config(f"`{key}` must be true or false")


def _int(body: dict, key: str, low: int, high: int) -> None:
    if key in body:
        value = body[key]
        if isinstance(value, float) and value.is_integer():
            value = body[key] = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise bad_config(f"`{key}` must be an integer from {low} to {high}")


def _choice(body: dict, key: str, choices: tuple, nullable: bool = False) -> None:
    if key in body and not (nullable and body[key] is None) and body[key] not in choices:
        raise bad_config(f"`{key}` must be one of {', '.join(map(str, choices))}")


def _model(body: dict, key: str) -> None:
    if key in body:
        if body[key] in (None, ""):  # Cloudflare: an empty string uses the configured or default model
            body[key] = DEFAULTS[key]
        elif not isinstance(body[key], str):
            raise bad_config(f"`{key}` must be a model name such as {DEFAULTS[key]}")


def normalise(body: Any) -> dict[str, Any]:
    """The settings in a create/update body, checked; only the keys the body names."""
    if not isinstance(body, dict):
        raise bad_config("expected a JSON object with the instance's settings")
    body = {ALIASES.get(k, k): copy.deepcopy(v) for k, v in body.items()}
    for key in IGNORED:
        body.pop(key, None)
    if "hybrid_search_enabled" in body:  # deprecated spelling of index_method.keyword
        _bool(body, "hybrid_search_enabled")
        hybrid = body.pop("hybrid_search_enabled")
        body.setdefault("index_method", {"vector": True, "keyword": hybrid})
    unknown = sorted(set(body) - set(DEFAULTS))
    if unknown:
        raise bad_config(f"unknown instance setting(s): {', '.join(unknown)}")
    for key in ("chunk", "rewrite_query", "reranking", "cache", "paused"):
        _bool(body, key)
    for key in ("embedding_model", "ai_search_model", "rewrite_model", "reranking_model"):
        _model(body, key)
    _int(body, "chunk_size", 64, 2048)
    _int(body, "chunk_overlap", 0, 30)
    _int(body, "max_num_results", 1, 50)
    _choice(body, "fusion_method", ("max", "rrf"))
    _choice(body, "sync_interval", SYNC_INTERVALS)
    _choice(body, "cache_threshold", CACHE_THRESHOLDS)
    _choice(body, "cache_ttl", CACHE_TTLS)
    _choice(body, "type", ("r2", "web-crawler"), nullable=True)
    if "score_threshold" in body:
        value = body["score_threshold"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise bad_config("`score_threshold` must be a number from 0 to 1")
    if "index_method" in body:
        method = body["index_method"]
        if not isinstance(method, dict) or not all(isinstance(method.get(k), bool) for k in ("vector", "keyword")):
            raise bad_config("`index_method` must be {\"vector\": true|false, \"keyword\": true|false}")
        if not (method["vector"] or method["keyword"]):
            raise bad_config("`index_method` must enable vector or keyword indexing (or both)")
        body["index_method"] = {"vector": method["vector"], "keyword": method["keyword"]}
    if "custom_metadata" in body:
        body["custom_metadata"] = _custom_metadata(body["custom_metadata"])
    if "source" in body and body["source"] is not None and not isinstance(body["source"], str):
        raise bad_config("`source` must be an R2 bucket name (or an absolute folder path on the kumo server)")
    if "ai_gateway_id" in body and body["ai_gateway_id"] == "":
        body["ai_gateway_id"] = None
    if "ai_gateway_id" in body and body["ai_gateway_id"] is not None and not isinstance(body["ai_gateway_id"], str):
        raise bad_config("`ai_gateway_id` must be the id of an AI Gateway of this account, or null")
    if "source_params" in body:
        body["source_params"] = _source_params(body["source_params"])
    if "retrieval_options" in body:
        body["retrieval_options"] = _retrieval_options(body["retrieval_options"])
    if "indexing_options" in body:
        body["indexing_options"] = _indexing_options(body["indexing_options"])
    for key in ("system_prompt_ai_search", "system_prompt_rewrite_query"):
        if key in body and body[key] is not None and not isinstance(body[key], str):
            raise bad_config(f"`{key}` must be a string")
    if "metadata" in body and not isinstance(body["metadata"], dict):
        raise bad_config("`metadata` must be an object (kept with the instance, returned as sent)")
    for key, why in REFUSED.items():
        switched_off = key == "public_endpoint_params" and isinstance(body[key] if key in body else None, dict) \
            and not body[key].get("enabled", False)  # {} or {"enabled": false}: no public endpoint
        if key in body and body[key] != DEFAULTS[key] and not switched_off:
            raise bad_config(f"`{key}` cannot be {json.dumps(body[key])} here: {why}; leave it at "
                             f"{json.dumps(DEFAULTS[key])}")
    return body


def _custom_metadata(fields: Any) -> list[dict[str, str]]:
    if not isinstance(fields, list):
        raise bad_config("`custom_metadata` must be an array of {field_name, data_type}")
    if len(fields) > MAX_CUSTOM_METADATA:
        raise bad_config(f"an instance may define at most {MAX_CUSTOM_METADATA} custom metadata fields")
    out, seen = [], set()
    for field in fields:
        if not isinstance(field, dict) or not isinstance(field.get("field_name"), str) or not field["field_name"]:
            raise bad_config("each `custom_metadata` entry needs a `field_name` string")
        name = field["field_name"]
        if field.get("data_type") not in METADATA_TYPES:
            raise bad_config(f"`custom_metadata` field {name!r}: `data_type` must be one of {', '.join(METADATA_TYPES)}")
        if name in RESERVED_METADATA or name.startswith("$") or "." in name or '"' in name:
            raise bad_config(f"`custom_metadata` field name {name!r} is reserved or not allowed")
        if name in seen:
            raise bad_config(f"`custom_metadata` field {name!r} is defined twice")
        seen.add(name)
        out.append({"field_name": name, "data_type": field["data_type"]})
    return out


def _source_params(params: Any) -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise bad_config("`source_params` must be an object")
    out = dict(params)
    for key in ("include_items", "exclude_items"):
        if key in out and (not isinstance(out[key], list) or not all(isinstance(p, str) for p in out[key])
                           or len(out[key]) > MAX_PATH_PATTERNS):
            raise bad_config(f"`source_params.{key}` must be an array of up to {MAX_PATH_PATTERNS} glob patterns")
    if "prefix" in out and not isinstance(out["prefix"], str):
        raise bad_config("`source_params.prefix` must be a string")
    if out.get("r2_jurisdiction") not in (None, "", "default"):
        raise bad_config(f"`source_params.r2_jurisdiction` cannot be {json.dumps(out['r2_jurisdiction'])} here: "
                         "kumo's R2 has one jurisdiction; leave it at \"default\"")
    if out.get("web_crawler") not in (None, {}):
        raise bad_config("`source_params.web_crawler` cannot be set here: web-crawler sources need the internet "
                         "and a browser, which kumo does not use")
    unknown = sorted(set(out) - {"prefix", "include_items", "exclude_items", "r2_jurisdiction", "web_crawler"})
    if unknown:
        raise bad_config(f"unknown `source_params` setting(s): {', '.join(unknown)}")
    return out


def _retrieval_options(options: Any) -> dict[str, Any]:
    if options is None:
        return dict(DEFAULTS["retrieval_options"])
    if not isinstance(options, dict):
        raise bad_config("`retrieval_options` must be an object")
    out = dict(options)
    if out.get("keyword_match_mode", "and") not in ("and", "or"):
        raise bad_config("`retrieval_options.keyword_match_mode` must be `and` or `or`")
    unknown = sorted(set(out) - {"keyword_match_mode", "boost_by"})
    if unknown:
        raise bad_config(f"unknown `retrieval_options` setting(s): {', '.join(unknown)}")
    if "boost_by" in out:
        out["boost_by"] = boost_shape(out["boost_by"], "retrieval_options.boost_by", bad_config)
    return out


def boost_shape(value: Any, name: str, error: Any) -> list[dict[str, Any]]:
    """`boost_by` as Cloudflare takes it: up to 3 {field, direction?} with distinct fields (checked against the
    instance's fields by `boost_fields`)."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_BOOSTS:
        raise error(f"`{name}` must be an array of up to {MAX_BOOSTS} {{field, direction}} objects")
    out, seen = [], set()
    for entry in value:
        if not isinstance(entry, dict) or not isinstance(entry.get("field"), str) or not entry["field"]:
            raise error(f"each `{name}` entry needs a `field` string (timestamp or a custom metadata field)")
        unknown = sorted(set(entry) - {"field", "direction"})
        if unknown:
            raise error(f"`{name}` entries take `field` and `direction` only, not {', '.join(unknown)}")
        direction = entry.get("direction")
        if direction is not None and direction not in BOOST_DIRECTIONS:
            raise error(f"`{name}` direction must be one of {', '.join(BOOST_DIRECTIONS)}")
        if entry["field"].lower() in seen:
            raise error(f"`{name}` names the field {entry['field']!r} twice")
        seen.add(entry["field"].lower())
        out.append({"field": entry["field"]} if direction is None else {"field": entry["field"], "direction": direction})
    return out


def boost_fields(boosts: list[dict[str, Any]], config: dict[str, Any], name: str, error: Any
                 ) -> list[tuple[str, str, str]]:
    """(field as stored, data type, direction) of each boost, after checking it fits the instance's schema.
    Field names are case-insensitive, as Cloudflare says; a direction left out defaults by type."""
    schema = {"timestamp": ("timestamp", "datetime")}
    for field in config.get("custom_metadata") or []:
        schema[field["field_name"].lower()] = (field["field_name"], field["data_type"])
    out = []
    for boost in boosts:
        found = schema.get(boost["field"].lower())
        if found is None:
            raise error(f"`{name}`: {boost['field']!r} is neither `timestamp` nor a custom metadata field of this "
                        f"instance ({', '.join(sorted(schema))})")
        stored, kind = found
        ordered = kind in ("number", "datetime")
        direction = boost.get("direction") or ("asc" if ordered else "exists")
        if direction in ("asc", "desc") and not ordered:
            raise error(f"`{name}`: {boost['field']!r} is a {kind} field; it can only be boosted by exists or "
                        "not_exists")
        out.append((stored, kind, direction))
    return out


def _indexing_options(options: Any) -> dict[str, Any]:
    if options is None:
        return dict(DEFAULTS["indexing_options"])
    if not isinstance(options, dict):
        raise bad_config("`indexing_options` must be an object")
    out = {**DEFAULTS["indexing_options"], **options}
    unknown = sorted(set(out) - {"keyword_tokenizer", "use_ocr"})
    if unknown:
        raise bad_config(f"unknown `indexing_options` setting(s): {', '.join(unknown)}")
    if out["keyword_tokenizer"] not in TOKENIZERS:
        raise bad_config("`indexing_options.keyword_tokenizer` must be porter or trigram")
    if out["use_ocr"] not in (False, None):
        raise bad_config("`indexing_options.use_ocr` is not supported: kumo reads the text layer of PDFs only")
    return out


def new_config(body: dict[str, Any]) -> dict[str, Any]:
    """Defaults + a normalised create body."""
    config = copy.deepcopy(DEFAULTS)
    for key, value in body.items():
        config[key] = {**config[key], **value} if key == "retrieval_options" else value
    return config


def apply_update(current: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The settings after a (partial) update; fixed settings may be repeated, not changed."""
    for key in FIXED:
        if key in body and body[key] != current.get(key):
            raise bad_config(f"`{key}` cannot change after the instance is created; create a new instance instead")
    updated = copy.deepcopy(current)
    for key, value in body.items():
        updated[key] = {**updated.get(key, {}), **value} if key == "retrieval_options" else value
    return updated


def index_config_signature(config: dict[str, Any]) -> str:
    """What an item's chunks and vectors depend on: when it changes, a sync re-indexes the item."""
    method = config["index_method"]
    signature = (f"{config['embedding_model']}|{config['chunk']}|{config['chunk_size']}|{config['chunk_overlap']}|"
                 f"v{int(method['vector'])}k{int(method['keyword'])}|{_custom_signature(config)}")
    tokenizer = tokenizer_of(config)
    return signature if tokenizer == "porter" else f"{signature}|{tokenizer}"  # porter: as signatures were before


def tokenizer_of(config: dict[str, Any]) -> str:
    return (config.get("indexing_options") or {}).get("keyword_tokenizer") or "porter"


def _custom_signature(config: dict[str, Any]) -> str:
    return ",".join(f"{f['field_name']}:{f['data_type']}" for f in config.get("custom_metadata") or [])


def instance_object(record: Any, vector_index: str | None) -> dict[str, Any]:
    """The instance as the API answers it (`InstanceReadResponse`)."""
    config = record.config
    out: dict[str, Any] = {
        "id": record.id,
        "namespace": record.namespace,
        "created_at": record.created_at,
        "modified_at": record.modified_at,
        "last_activity": record.last_activity,
        "created_by": "kumo",
        "modified_by": "kumo",
        "enable": True,
        "status": "paused" if config.get("paused") else "active",
        "engine_version": 3,
        "vectorize_name": vector_index,
        "hybrid_search_enabled": config["index_method"]["vector"] and config["index_method"]["keyword"],
    }
    for key, value in config.items():
        out[key] = copy.deepcopy(value)
    return out
