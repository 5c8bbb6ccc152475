"""AI Search as a service: namespaces, instances (each with a Vectorize index kumo manages through the
Vectorize service), search and grounded chat completions. Items and jobs live in `items.py` and `jobs.py`.
Built on the Workers AI and Vectorize services, never on their HTTP routes; knows nothing of HTTP."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from kumo.ai.service import AiService
from kumo.aisearch import answer, instance_config as cfg, similarity_cache
from kumo.aisearch.errors import (
    DUPLICATE,
    INSTANCE_NOT_FOUND,
    bad_config,
    instance_not_found,
    namespace_not_found,
)
from kumo.aisearch.indexing import Indexer
from kumo.aisearch.items import Items
from kumo.aisearch.jobs import Jobs
from kumo.aisearch.locks import InstanceLocks
from kumo.aisearch.metadata import index_types
from kumo.aisearch.datasource import is_folder
from kumo.aisearch.model_calls import GatewayModels
from kumo.aisearch.retrieval import Retriever, chunk_object, search_options
from kumo.aisearch.sources import check_folder
from kumo.aisearch.store import AiSearchStore, InstanceRecord, JobRecord, NamespaceRecord
from kumo.errors import InvalidRequest, KumoError, NotFound, ServiceUnavailable
from kumo.gateway.pipeline import Pipeline
from kumo.gateway.service import GatewayService
from kumo.r2.errors import R2Error
from kumo.r2.service import BUCKET_NAME, R2Service
from kumo.vectorize.service import INDEX_NAME, VectorizeService
from kumo.api.sse import NamedEvent
from kumo.api.threads import blocking
from kumo.timestamps import iso_now

log = logging.getLogger("kumo.aisearch")


def vector_index_name(namespace: str, instance_id: str) -> str:
    name = f"ai-search-{instance_id}" if namespace == cfg.DEFAULT_NAMESPACE else f"ai-search-{namespace}-{instance_id}"
    if len(name) <= 64 and INDEX_NAME.match(name):
        return name
    return "ai-search-" + hashlib.sha256(f"{namespace}/{instance_id}".encode()).hexdigest()[:24]


def namespace_object(record: NamespaceRecord) -> dict[str, Any]:
    return {"name": record.name, "description": record.description, "created_at": record.created_at}


class AiSearchService:
    def __init__(self, store: AiSearchStore, ai: AiService, vectorize: VectorizeService, *,
                 source_root: Any = None, locks: InstanceLocks | None = None, shared: bool = False,
                 r2: R2Service | None = None, gateways: GatewayService | None = None,
                 gateway_pipeline: Callable[[], Pipeline | None] = lambda: None):
        self.store = store
        self.ai = ai
        self.vectorize = vectorize
        self.r2 = r2  # bucket sources are read through it, in process
        self.gateways = gateways  # `ai_gateway_id` names one of them
        self.gateway_pipeline = gateway_pipeline  # built once the server runs (None before, or without a server)
        self.source_root = source_root  # folder sources must live under it (None: anywhere)
        self.indexer = Indexer(store, ai, vectorize)
        self.retriever = Retriever(store, ai, vectorize)
        self.jobs = Jobs(store, self.indexer, locks, shared, r2)  # shared: other nodes use the same store
        self.items = Items(store, self.indexer, self.jobs)

    async def start(self) -> None:
        await self.jobs.start()

    async def stop(self) -> None:
        await self.jobs.stop()

    def close(self) -> None:
        self.store.close()

    # ---- namespaces ------------------------------------------------------------------------------
    def create_namespace(self, account: str, name: Any, description: Any = None) -> dict[str, Any]:
        if not isinstance(name, str) or not cfg.NAMESPACE_NAME.match(name):
            raise bad_config("namespace `name` must be 1-64 lowercase letters, digits, '-' or '_'")
        if name == cfg.DEFAULT_NAMESPACE:
            raise bad_config("the `default` namespace always exists and cannot be created")
        if description is not None and not isinstance(description, str):
            raise bad_config("`description` must be a string")
        record = self.store.create_namespace(account, name, description, iso_now())
        if record is None:
            raise InvalidRequest(f"namespace {name!r} already exists", code=DUPLICATE)
        return namespace_object(record)

    def namespace(self, account: str, name: str) -> NamespaceRecord:
        if name == cfg.DEFAULT_NAMESPACE:
            return NamespaceRecord(account, name, "The default namespace", "1970-01-01T00:00:00Z")
        record = self.store.get_namespace(account, name)
        if record is None:
            raise namespace_not_found(name)
        return record

    def list_namespaces(self, account: str) -> list[dict[str, Any]]:
        return [namespace_object(self.namespace(account, cfg.DEFAULT_NAMESPACE))] + [
            namespace_object(r) for r in self.store.list_namespaces(account)]

    def update_namespace(self, account: str, name: str, description: Any) -> dict[str, Any]:
        if name == cfg.DEFAULT_NAMESPACE:
            raise bad_config("the `default` namespace cannot be changed")
        self.namespace(account, name)
        if description is not None and not isinstance(description, str):
            raise bad_config("`description` must be a string")
        self.store.update_namespace(account, name, description)
        return namespace_object(self.namespace(account, name))

    def delete_namespace(self, account: str, name: str) -> None:
        if name == cfg.DEFAULT_NAMESPACE:
            raise bad_config("the `default` namespace cannot be deleted")
        self.namespace(account, name)
        if self.store.list_instances(account, name):
            raise bad_config(f"namespace {name!r} still has instances; delete them first")
        self.store.delete_namespace(account, name)

    # ---- instances ------------------------------------------------------------------------------
    def instance(self, account: str, namespace: str, instance_id: str) -> InstanceRecord:
        record = self.store.get_instance(account, namespace, instance_id) if isinstance(instance_id, str) else None
        if record is None:
            self.namespace(account, namespace)  # a missing namespace is the better message
            raise instance_not_found(namespace, instance_id)
        return record

    def instance_object(self, record: InstanceRecord) -> dict[str, Any]:
        return cfg.instance_object(record, record.vector_index)

    def _check_models(self, config: dict[str, Any]) -> int:
        """The embedding model's dimensions, after checking every configured model is in the catalog."""
        tasks = {"embedding_model": "text-embeddings", "ai_search_model": "text-generation",
                 "rewrite_model": "text-generation", "reranking_model": "text-classification"}
        dims = 0
        for key, task in tasks.items():
            name = config[key]
            entry = self.ai.catalog.get(name)
            if entry is None:
                raise bad_config(f"`{key}`: {name!r} is not a model kumo knows; list them with `kumo models list`")
            if entry.task.slug != task or (key == "reranking_model" and entry.config.get("mode") != "rerank"):
                kind = "reranker" if key == "reranking_model" else task
                raise bad_config(f"`{key}`: {name} is a {entry.task.name} model, not a {kind} model")
            if key == "embedding_model":
                dims = int(entry.config.get("dimensions") or 0)
                if not dims:
                    raise bad_config(f"`embedding_model`: the catalog does not give {name}'s dimensions")
                if self.ai.status(entry)[0] == "absent":  # every item would fail: say so now
                    raise bad_config(f"`embedding_model`: the weights of {name} are not installed on this kumo; "
                                     f"run `kumo models pull {name}`, or use {cfg.DEFAULT_EMBEDDING_MODEL} "
                                     "(served offline by the bundled MiniLM)")
        return dims

    async def create_instance(self, account: str, namespace: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_config("expected a JSON object with the instance's `id` and settings")
        instance_id = body.get("id")
        if not isinstance(instance_id, str) or not cfg.INSTANCE_ID.match(instance_id):
            raise bad_config("`id` is required: 1-64 lowercase letters, digits, '-' or '_', starting with a "
                             "letter or digit")
        config = cfg.new_config(cfg.normalise(body))
        dims = self._check_models(config)
        await self._check_source(account, config)
        self._check_settings(account, config)
        await blocking(self.namespace, account, namespace)
        if await blocking(self.store.get_instance, account, namespace, instance_id) is not None:
            raise InvalidRequest(f"AI Search instance {instance_id!r} already exists", code=DUPLICATE)
        index = None
        if config["index_method"]["vector"]:
            index = vector_index_name(namespace, instance_id)
            await blocking(self._create_vector_index, account, index, dims, config, instance_id)
        try:
            record = await blocking(self.store.create_instance, account, namespace, instance_id, config,
                                             index, iso_now())
        except BaseException:
            if index:
                await blocking(self._drop_vector_index, account, index)
            raise
        if record is None:  # lost a race with another create of the same id
            if index:
                await blocking(self._drop_vector_index, account, index)
            raise InvalidRequest(f"AI Search instance {instance_id!r} already exists", code=DUPLICATE)
        if config.get("source"):  # Cloudflare starts indexing a new instance's source right away
            await self.jobs.start_job(record, "user", "initial sync")
        return self.instance_object(record)

    async def _check_source(self, account: str, config: dict[str, Any]) -> None:
        source, kind = config.get("source"), config.get("type")
        if not source:
            if kind:
                raise bad_config(f"`type` {kind} needs a `source`")
            config["source"], config["type"] = None, None
            return
        if kind == "web-crawler" or source.startswith(("http://", "https://")):
            raise bad_config("web-crawler sources need the internet and a browser; kumo indexes uploaded files, "
                             "an R2 bucket of the account (`source`: the bucket name, `type`: r2) or a local folder "
                             "(`source`: an absolute folder path)")
        config["type"] = "r2"
        if is_folder(source):
            config["source"] = check_folder(source, self.source_root)
            return
        if self.r2 is None:
            raise bad_config("this kumo runs without R2, so `source` can only be a folder path")
        if not BUCKET_NAME.match(source):
            raise bad_config(f"`source` {source!r} is neither an R2 bucket name (3-63 lowercase letters, digits and "
                             "'-') nor an absolute folder path")
        try:
            await self.r2.bucket(account, source)
        except R2Error:
            raise bad_config(f"`source`: there is no R2 bucket named {source!r} in this account; create it first "
                             "(or give an absolute folder path on the kumo server)") from None

    def _check_settings(self, account: str, config: dict[str, Any]) -> None:
        """What depends on the instance's other settings or on the account: boosts, the AI Gateway."""
        cfg.boost_fields((config.get("retrieval_options") or {}).get("boost_by") or [], config,
                         "retrieval_options.boost_by", bad_config)
        gateway_id = config.get("ai_gateway_id")
        if gateway_id is None:
            return
        if self.gateways is None:
            raise bad_config("`ai_gateway_id`: this kumo runs without AI Gateway")
        try:
            self.gateways.get(account, gateway_id)
        except NotFound:
            raise bad_config(f"`ai_gateway_id`: there is no AI Gateway {gateway_id!r} in this account; create it "
                             "first (POST /accounts/{account_id}/ai-gateway/gateways)") from None

    def _create_vector_index(self, account: str, index: str, dims: int, config: dict[str, Any],
                             instance_id: str) -> None:
        try:
            self.vectorize.get_index(account, index)
        except NotFound:
            pass
        else:
            raise bad_config(f"this account already has a Vectorize index named {index!r}, which kumo would use "
                             f"for instance {instance_id!r}; delete that index or choose another instance id")
        self.vectorize.create_index(account, index, {"dimensions": dims, "metric": "cosine"},
                                    f"AI Search instance {instance_id} (managed by kumo)")
        try:
            for prop, kind in index_types(config).items():
                self.vectorize.create_metadata_index(account, index, prop, kind)
        except BaseException:
            self._drop_vector_index(account, index)
            raise

    def _drop_vector_index(self, account: str, index: str) -> None:
        try:
            self.vectorize.delete_index(account, index)
        except NotFound:
            pass

    def list_instances(self, account: str, namespace: str | None, search: str | None = None,
                       direction: str = "asc") -> list[dict[str, Any]]:
        records = self.store.list_instances(account, namespace)
        if search:
            records = [r for r in records if search.lower() in r.id.lower()]
        if direction == "desc":
            records = records[::-1]
        return [self.instance_object(r) for r in records]

    async def update_instance(self, account: str, namespace: str, instance_id: str, body: Any) -> dict[str, Any]:
        record = await blocking(self.instance, account, namespace, instance_id)
        updated = cfg.apply_update(record.config, cfg.normalise(body))
        if updated["index_method"]["vector"] != record.config["index_method"]["vector"]:
            raise bad_config("`index_method.vector` cannot change after the instance is created; create a new "
                             "instance instead")
        self._check_models(updated)
        self._check_settings(account, updated)
        if record.vector_index:
            for prop, kind in index_types(updated).items():  # new custom fields become filterable
                await blocking(self.vectorize.create_metadata_index, account, record.vector_index, prop, kind)
        await blocking(self.store.update_instance, record.pk, updated, iso_now())
        if similarity_cache.answer_settings(updated) != similarity_cache.answer_settings(record.config):  # cached answers came from the old ones
            await blocking(self.store.purge_cache, record.pk)
        changed = cfg.index_config_signature(updated) != cfg.index_config_signature(record.config)
        record = await blocking(self.instance, account, namespace, instance_id)
        if changed:  # as on Cloudflare: new chunking re-indexes (not started while a job already runs)
            await self.jobs.try_start(record, "user", "re-index after a settings change")
        return self.instance_object(record)

    async def delete_instance(self, account: str, namespace: str, instance_id: str) -> dict[str, Any]:
        record = await blocking(self.instance, account, namespace, instance_id)
        running = await self.jobs.running_job(record.pk)
        if running is not None:
            await self.jobs.cancel(record.pk, running)
            await self.jobs.wait(record.pk, running)
        async with self.jobs.lock(record.pk):
            await blocking(self.store.delete_instance, record.pk)
            if record.vector_index:
                await blocking(self._drop_vector_index, account, record.vector_index)
        return self.instance_object(record)

    def stats(self, account: str, namespace: str, instance_id: str) -> dict[str, Any]:
        record = self.instance(account, namespace, instance_id)
        counts = self.store.status_counts(record.pk)
        objects, payload = self.store.stored_bytes(record.pk)
        engine: dict[str, Any] = {"r2": {"objectCount": objects, "payloadSizeBytes": payload, "metadataSizeBytes": 0}}
        if record.vector_index:
            info = self.vectorize.info(account, record.vector_index)
            engine["vectorize"] = {"dimensions": info["dimensions"], "vectorsCount": info["vectorCount"]}
        out: dict[str, Any] = {status: counts.get(status, 0) for status in ("queued", "running", "completed", "error", "skipped",
                                                            "outdated")}
        out.update(engine=engine, last_activity=record.last_activity, degraded=False)
        return out

    def job(self, record: InstanceRecord, job_id: str) -> JobRecord | None:
        return self.store.get_job(record.pk, job_id)

    def job_records(self, record: InstanceRecord, offset: int, limit: int) -> tuple[list[JobRecord], int]:
        """An instance's sync jobs as stored, newest first, and how many there are."""
        return self.store.list_jobs(record.pk, offset, limit)

    def job_logs(self, job: JobRecord, offset: int, limit: int) -> list[dict]:
        return self.store.job_logs(job.pk, offset, limit)

    def list_jobs(self, account: str, namespace: str, instance_id: str, offset: int, limit: int
                  ) -> tuple[list[dict[str, Any]], int]:
        """An instance's sync jobs, newest first as stored, with `progress` {done, total} while one runs here."""
        record = self.instance(account, namespace, instance_id)
        jobs, total = self.store.list_jobs(record.pk, offset, limit)
        out = []
        for job in jobs:
            item: dict[str, Any] = {
                "id": job.id, "source": job.source, "description": job.description, "started_at": job.started_at,
                "ended_at": job.ended_at, "end_reason": job.end_reason, "last_seen_at": job.last_seen_at}
            run = self.jobs.runs.get(job.pk)
            if run is not None and job.ended_at is None:
                item["progress"] = {"done": run.done, "total": run.total}
            out.append(item)
        return out, total

    # ---- search and chat ------------------------------------------------------------------------------
    def text_models(self, record: InstanceRecord, credentials: Mapping[str, str] | None) -> Any:
        """Who answers rewrite and generation calls: the Workers AI service, or the instance's AI Gateway."""
        gateway_id = record.config.get("ai_gateway_id")
        if not gateway_id:
            return self.ai
        pipeline = self.gateway_pipeline()
        if pipeline is None:
            raise ServiceUnavailable(f"instance {record.id!r} sends its model calls through AI Gateway "
                                     f"{gateway_id!r}, which only runs inside `kumo serve`")
        return GatewayModels(pipeline, record.account, gateway_id, credentials or {})

    async def _retrieve(self, record: InstanceRecord, body: dict[str, Any], query: str,
                        credentials: Mapping[str, str] | None = None) -> tuple[list, str]:
        options = body.get("ai_search_options")
        if options is None:
            options = {}
        opts = search_options(options, record.config)  # also checks `options` is an object
        rewrite = options.get("query_rewrite") or {}
        if not isinstance(rewrite, dict):
            raise bad_config("`ai_search_options.query_rewrite` must be an object {enabled, model, rewrite_prompt}")
        if rewrite.get("enabled", record.config["rewrite_query"]):
            model = rewrite.get("model") or record.config["rewrite_model"]
            prompt = rewrite.get("rewrite_prompt") or record.config.get("system_prompt_rewrite_query")
            query = await answer.rewrite_query(self.text_models(record, credentials), model, prompt, query)
        hits = await self.retriever.search(record, query, opts)
        await blocking(self.store.touch_instance, record.pk, iso_now())
        return hits, query

    async def search(self, account: str, namespace: str, instance_id: str, body: Any,
                     credentials: Mapping[str, str] | None = None) -> tuple[dict[str, Any], str | None]:
        """(the answer, the similarity cache's verdict: HIT, MISS, or None when the cache is off)."""
        if not isinstance(body, dict):
            raise bad_config("expected a JSON object with `query` or `messages`")
        record = await blocking(self.instance, account, namespace, instance_id)
        query = answer.query_of(body)
        search_options(body.get("ai_search_options") or {}, record.config)  # a bad request is a 400, cached or not
        cached, lookup = await similarity_cache.lookup(self.ai, self.store, record, "search", body, query)
        if cached is not None:
            return cached, "HIT"
        hits, used = await self._retrieve(record, body, query, credentials)
        result = {"search_query": used, "query_kind": "text", "chunks": [chunk_object(h) for h in hits]}
        return result, await similarity_cache.keep(self.store, record, lookup, result)

    async def chat(self, account: str, namespace: str, instance_id: str, body: Any,
                   credentials: Mapping[str, str] | None = None
                   ) -> tuple[dict[str, Any] | AsyncIterator[dict[str, Any] | NamedEvent], str, str | None]:
        """(the answer, or its stream of chunks when `stream` is true; the model that really runs; the similarity
        cache's verdict)."""
        if not isinstance(body, dict):
            raise bad_config("expected a JSON object with `messages`")
        record = await blocking(self.instance, account, namespace, instance_id)
        query = answer.query_of({"messages": answer.check_messages(body.get("messages"))})
        model = self._chat_model(body, record)
        search_options(body.get("ai_search_options") or {}, record.config)
        cached, lookup = await similarity_cache.lookup(self.ai, self.store, record, "chat", body, query)
        if cached is not None:
            return cached, cached.get("model", model), "HIT"
        hits, _ = await self._retrieve(record, body, query, credentials)
        result, served = await self._answer(body, model, record, hits, [chunk_object(h) for h in hits], credentials)
        return result, served, await similarity_cache.keep(self.store, record, lookup, result)

    # ---- the similarity cache ---------------------------------------------------------------------------
    async def purge_cache(self, account: str, namespace: str, instance_id: str) -> dict[str, Any]:
        record = await blocking(self.instance, account, namespace, instance_id)
        await blocking(self.store.purge_cache, record.pk)
        return {"id": record.id, "purged": True}

    def _chat_model(self, body: dict[str, Any], record: InstanceRecord) -> str:
        model = body.get("model") or record.config["ai_search_model"]
        entry = self.ai.catalog.get(model) if isinstance(model, str) else None
        if entry is None or entry.task.slug != "text-generation":
            raise bad_config(f"`model` must be a text-generation model kumo knows, got {model!r}")
        return model

    async def _answer(self, body: dict[str, Any], model: str, record: InstanceRecord, hits: list,
                      chunks: list[dict], credentials: Mapping[str, str] | None = None
                      ) -> tuple[dict[str, Any] | AsyncIterator[dict[str, Any] | NamedEvent], str]:
        inputs = answer.generation_input(body, record.config.get("system_prompt_ai_search"), hits)
        models = self.text_models(record, credentials)
        if body.get("stream"):
            return await answer.complete_stream(models, model, inputs, chunks)
        return await answer.complete(models, model, inputs, chunks)

    # ---- several instances of a namespace at once ---------------------------------------------------
    async def _retrieve_many(self, account: str, namespace: str, body: dict[str, Any], query: str,
                             credentials: Mapping[str, str] | None = None
                             ) -> tuple[list[tuple[str, Any]], list[dict], str, list[InstanceRecord]]:
        """Hits of every instance in `ai_search_options.instance_ids`, best first; a missing or failing
        instance becomes an entry of `errors` instead of failing the request."""
        await blocking(self.namespace, account, namespace)
        options = body.get("ai_search_options")
        options = options if isinstance(options, dict) else {}
        ids = options.get("instance_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids) or len(ids) > 10:
            raise bad_config("`ai_search_options.instance_ids` must list 1-10 instance ids of this namespace")
        cache = options.get("cache")
        if isinstance(cache, dict) and cache.get("enabled"):
            raise bad_config("`ai_search_options.cache`: answers across several instances are not cached; ask one "
                             "instance to use its similarity cache")
        per_instance = {**body, "ai_search_options": {k: v for k, v in options.items()
                                                      if k not in ("instance_ids", "cache")}}
        hits: list[tuple[str, Any]] = []
        errors, records, used = [], [], query
        for instance_id in dict.fromkeys(ids):
            try:
                record = await blocking(self.instance, account, namespace, instance_id)
                found, used = await self._retrieve(record, per_instance, query, credentials)
            except InvalidRequest:
                raise  # the request itself is wrong: the same mistake for every instance
            except KumoError as exc:
                errors.append({"instance_id": instance_id, "message": exc.message})
                continue
            records.append(record)
            hits.extend((instance_id, hit) for hit in found)
        retrieval = (options.get("retrieval") or {}) if isinstance(options.get("retrieval"), dict) else {}
        limit = retrieval.get("max_num_results") or (records[0].config["max_num_results"] if records else 10)
        hits.sort(key=lambda pair: -pair[1].score)
        return hits[:limit], errors, used, records

    async def search_namespace(self, account: str, namespace: str, body: Any,
                               credentials: Mapping[str, str] | None = None) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_config("expected a JSON object with `query` or `messages` and `ai_search_options.instance_ids`")
        hits, errors, used, _ = await self._retrieve_many(account, namespace, body, answer.query_of(body), credentials)
        out: dict[str, Any] = {"search_query": used, "query_kind": "text",
                               "chunks": [{**chunk_object(h), "instance_id": iid} for iid, h in hits]}
        if errors:
            out["errors"] = errors
        return out

    async def chat_namespace(self, account: str, namespace: str, body: Any,
                             credentials: Mapping[str, str] | None = None
                             ) -> tuple[dict[str, Any] | AsyncIterator[dict[str, Any] | NamedEvent], str]:
        if not isinstance(body, dict):
            raise bad_config("expected a JSON object with `messages` and `ai_search_options.instance_ids`")
        query = answer.query_of({"messages": answer.check_messages(body.get("messages"))})
        hits, errors, _, records = await self._retrieve_many(account, namespace, body, query, credentials)
        if not records:
            raise NotFound("none of `ai_search_options.instance_ids` is an instance of this namespace: "
                           + "; ".join(e["message"] for e in errors), code=INSTANCE_NOT_FOUND)
        model = self._chat_model(body, records[0])
        chunks = [{**chunk_object(h), "instance_id": iid} for iid, h in hits]
        result, served = await self._answer(body, model, records[0], [h for _, h in hits], chunks, credentials)
        if isinstance(result, dict) and errors:
            result["errors"] = errors
        return result, served

