"""The services of one kumo, built once from Settings. The HTTP app, `kumo.Env` and the CLI's
in-process mode all hold a Platform; backends are chosen here and nowhere else."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Union

from starlette.requests import Request

from kumo.ai.batch_queue import BatchQueue
from kumo.ai.catalog import Catalog
from kumo.ai.service import AiService
from kumo.ai.weights import WeightsStore
from kumo.aisearch.locks import InstanceLocks
from kumo.aisearch.service import AiSearchService
from kumo.api.threads import use_thread_pool
from kumo.config import Settings
from kumo.custom_models.service import CustomModelService
from kumo.custom_models.scoring.service import ScoringService
from kumo.custom_models.scoring.workers import ScoringWorkers
from kumo.storage.sql_custom_models import SqlCustomModelStore
from kumo.storage.sql_scoring import SqlScoringStore
from kumo.metrics import Metrics
from kumo.r2.service import R2Service
from kumo.r2.store import ObjectStore
from kumo.gateway.cache import MemoryCache, ResponseCache
from kumo.gateway.controls.byok import ProviderKeys, load_kek
from kumo.gateway.controls import guardrails
from kumo.gateway.controls.otel import OtelExport
from kumo.gateway.controls.spend import MemorySpendCounter, SpendCounter
from kumo.gateway.logpush import destination as logpush_destination
from kumo.gateway.logpush.pusher import LogPusher
from kumo.gateway.logs import LogWriter
from kumo.gateway.providers import PROVIDERS
from kumo.gateway.ratelimit import MemoryRateLimiter, RateLimiter
from kumo.gateway.service import GatewayService
from kumo.storage.sql_aisearch import SqlAiSearchStore
from kumo.storage.sql_batches import SqlBatchStore
from kumo.storage.sql_gateway import SqlGatewayStore
from kumo.storage.r2_embedded import EmbeddedObjectStore
from kumo.storage.sql_provider_keys import SqlProviderKeyStore
from kumo.storage.sqlite import SqliteDatabase
from kumo.storage.sqlite_cache import SqliteCache
from kumo.storage.sqlite_vectors import SqliteVectorStore
from kumo.vectorize.embedded import EmbeddedEngine
from kumo.vectorize.service import VectorizeService
from kumo.vectorize.space import AnnParams

if TYPE_CHECKING:
    from kumo.gateway.pipeline import Pipeline
    from kumo.storage.postgres import PostgresDatabase
    from kumo.storage.r2_s3engine import EngineConfig

Database = Union[SqliteDatabase, "PostgresDatabase"]  # the same execute/transaction surface, either engine


Sql = Literal["sqlite", "postgresql"]
Vectors = Literal["embedded", "pgvector"]
GatewayCache = Literal["sqlite", "memory", "redis"]
Counters = Literal["memory", "redis"]
ObjectBytes = Literal["files", "s3-engine"]


@dataclass(frozen=True)
class Backends:
    """Which backend holds each kind of state: every choice kumo makes between backends is this one table,
    read from Settings by `choose_backends` (typed, so a typo is refused at start-up)."""

    sql: Sql  # gateways and their logs, batch jobs, AI Search, custom models' registry, provider keys, R2's rows
    vectors: Vectors  # Vectorize: SQLite + an in-memory space per index, or every read and write in pgvector
    gateway_cache: GatewayCache
    counters: Counters  # the gateway's rate limits and spend limits
    r2_bytes: ObjectBytes  # object bytes: files under data_dir, or an S3-compatible engine


def choose_backends(settings: Settings) -> Backends:
    """database_url: PostgreSQL for all SQL state and pgvector for Vectorize; redis_url: Redis for the gateway's
    counters and (unless `gateway_cache` says otherwise) its cache; r2_engine_url: R2's bytes in that engine."""
    shared_sql, redis = bool(settings.database_url), bool(settings.redis_url)
    return Backends(
        sql="postgresql" if shared_sql else "sqlite",
        vectors="pgvector" if shared_sql else "embedded",
        gateway_cache=settings.gateway_cache or ("redis" if redis else "sqlite"),
        counters="redis" if redis else "memory",
        r2_bytes="s3-engine" if settings.r2_engine_url else "files",
    )


def _postgres(settings: Settings) -> PostgresDatabase:
    from kumo.storage.migrate import upgrade_postgres
    from kumo.storage.postgres import PostgresDatabase

    assert settings.database_url
    upgrade_postgres(settings.database_url)  # several nodes may start at once: under an advisory lock
    return PostgresDatabase(settings.database_url, max_connections=settings.database_max_connections,
                            connect_timeout=settings.database_timeout)


AISEARCH_LOCKS = 0x6B61_6973  # advisory lock space of AI Search instances ("kais"), keyed by instance pk


def _advisory_locks(settings: Settings) -> InstanceLocks:
    from kumo.storage.pg_locks import AdvisoryLocks

    assert settings.database_url
    return AdvisoryLocks(settings.database_url, AISEARCH_LOCKS, settings.database_timeout)


def _vectorize(kind: Vectors, settings: Settings, ann: AnnParams, postgres: PostgresDatabase | None) -> VectorizeService:
    if kind == "pgvector":
        assert postgres is not None  # choose_backends picks pgvector with database_url only
        from kumo.storage.pg_vectors import PgVectorStore
        from kumo.vectorize.pg_engine import PgVectorEngine

        pg_store = PgVectorStore(postgres, ann.m, ann.ef_construction)
        pg_ann = replace(ann, ef_search=settings.vectorize_pgvector_ef_search)
        return VectorizeService(pg_store, PgVectorEngine(pg_store, pg_ann))
    store = SqliteVectorStore(settings.data_dir / "vectorize.sqlite3")
    return VectorizeService(store, EmbeddedEngine(store, settings.data_dir / "vectorize-snapshots", ann))


def r2_engine_config(settings: Settings) -> EngineConfig | None:
    """The S3-compatible engine R2's bytes go to, or None for files under data_dir."""
    if not settings.r2_engine_url:
        return None
    from kumo.storage.r2_s3engine import EngineConfig

    secret = settings.r2_engine_secret_key.get_secret_value() if settings.r2_engine_secret_key else ""
    return EngineConfig(settings.r2_engine_url, settings.r2_engine_access_key or "", secret,
                        settings.r2_engine_bucket, settings.r2_engine_region)


def _object_store(kind: ObjectBytes, settings: Settings, postgres: PostgresDatabase | None) -> ObjectStore:
    """R2's backend: bytes in an S3-compatible engine (rows in PostgreSQL when scaled out, else SQLite), or
    files and SQLite under data_dir."""
    data_dir = settings.data_dir
    config = r2_engine_config(settings)
    if kind == "files" or config is None:
        return EmbeddedObjectStore(data_dir / "r2", data_dir / "r2.sqlite3")
    from kumo.storage.r2_s3engine import EngineObjectStore

    if postgres is not None:
        return EngineObjectStore(config, postgres, owns_database=False)
    return EngineObjectStore(config, SqliteDatabase(data_dir / "r2.sqlite3", branch="r2"))


def _gateway_cache(kind: GatewayCache, settings: Settings) -> ResponseCache:
    if kind == "redis":
        assert settings.redis_url  # Settings refuses gateway_cache = "redis" without it
        from kumo.storage.redis_cache import RedisCache

        return RedisCache(settings.redis_url)
    if kind == "memory":
        return MemoryCache(settings.gateway_cache_max_bytes)
    return SqliteCache(settings.data_dir / "gateway-cache.sqlite3", settings.gateway_cache_max_bytes)


def _counters(kind: Counters, settings: Settings) -> tuple[RateLimiter, SpendCounter]:
    """The gateway's rate-limit and spend-limit counters: exact across nodes in Redis, else in this process."""
    if kind == "redis":
        from kumo.storage.redis_ratelimit import RedisRateLimiter
        from kumo.storage.redis_spend import RedisSpendCounter

        assert settings.redis_url  # choose_backends counts in Redis with redis_url only
        fail_open = settings.redis_rate_limit_fail_open
        return (RedisRateLimiter(settings.redis_url, fail_open=fail_open),
                RedisSpendCounter(settings.redis_url, fail_open=fail_open))
    return MemoryRateLimiter(), MemorySpendCounter()


class Platform:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.backends = backends = choose_backends(settings)
        data_dir = settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.metrics = Metrics()
        ann = AnnParams(
            threshold=settings.vectorize_ann_threshold,
            m=settings.vectorize_hnsw_m,
            ef_construction=settings.vectorize_hnsw_ef_construction,
            ef_search=settings.vectorize_hnsw_ef_search,
        )
        self.ai = AiService(
            Catalog.load(settings.models),
            WeightsStore(settings.models_dir or data_dir / "models"),
            strict=settings.strict_models,
            threads=settings.threads,
        )
        self.ai.metrics = self.metrics
        self.postgres = _postgres(settings) if backends.sql == "postgresql" else None

        def sql(file: str, branch: str) -> Database:
            """One PostgreSQL shared by every product, or a SQLite file each under data_dir."""
            return self.postgres or SqliteDatabase(data_dir / file, branch=branch)

        gateway_db = sql("gateway.sqlite3", "gateway")
        self.vectorize = _vectorize(backends.vectors, settings, ann, self.postgres)
        self.r2 = R2Service(_object_store(backends.r2_bytes, settings, self.postgres))
        self.gateways = GatewayService(SqlGatewayStore(gateway_db), auto_create=settings.gateway_auto_create,
                                       settings_ttl=2.0 if self.postgres else None,
                                       check=self._check_gateway)
        # custom models: registry in SQL (shared by every node), files from R2 cached under the data dir
        custom_db = sql("custom-models.sqlite3", "custom_models")
        self.custom_models = CustomModelService(
            store=SqlCustomModelStore(custom_db), r2=self.r2, files_dir=data_dir / "custom-models",
            max_bytes=settings.custom_models_cache_bytes, disk_bytes=settings.custom_models_disk_cache_bytes,
            call_log_rows=settings.custom_models_call_log_rows,
            registry_ttl=2.0 if self.postgres else None)  # nodes sharing a database see a promotion within 2 s
        self.custom_models.metrics = self.metrics
        # batch scoring over R2: jobs in the same SQL, chunks leased by every node and `kumo worker`
        self.scoring = ScoringService(SqlScoringStore(custom_db, settings.batch_lease_seconds), self.r2,
                                      self.custom_models, self.ai, data_dir / "scoring")
        self.scoring_workers = ScoringWorkers(self.scoring, exclusive=self.postgres is None,
                                              concurrency=settings.scoring_concurrency)
        # folder sources: anywhere while kumo is local-only (no tokens), else only under <data_dir>/aisearch-sources
        self.aisearch = AiSearchService(
            store=SqlAiSearchStore(sql("aisearch.sqlite3", "aisearch")), ai=self.ai, vectorize=self.vectorize,
            source_root=data_dir / "aisearch-sources" if settings.api_tokens else None,
            # AI Search instances index one thing at a time across nodes; one process: an asyncio lock per instance
            locks=_advisory_locks(settings) if backends.sql == "postgresql" else None,
            shared=self.postgres is not None, r2=self.r2, gateways=self.gateways,
            gateway_pipeline=lambda: self.gateway_pipeline)
        self.batches = BatchQueue(SqlBatchStore(sql("ai-batches.sqlite3", "batches"), settings.batch_lease_seconds),
                                  self.ai, exclusive=self.postgres is None)
        self.logpush = self._logpush(settings, data_dir)
        self.gateway_logs = LogWriter(self.gateways.store, self.gateways.log_limit,
                                      after_write=self.logpush.add if self.logpush else None)
        self.provider_keys = ProviderKeys(
            SqlProviderKeyStore(gateway_db),
            lambda: load_kek(settings.gateway_key_encryption_key, settings.gateway_key_encryption_key_file,
                             data_dir, shared=self.postgres is not None),
            ttl=2.0)  # a rotation, or a gateway deleted, reaches every node within seconds
        self.gateway_cache = _gateway_cache(backends.gateway_cache, settings)
        self.rate_limiter, self.spend_counter = _counters(backends.counters, settings)
        self.gateway_pipeline: Pipeline | None = None  # built on the event loop by start_async (it holds HTTP clients)
        self.telemetry = OtelExport()  # gateways' `otel` exporters, made when first used
        self.metrics.gauge("kumo_ai_batch_queue_depth", "Batch jobs queued or running",
                           lambda: self.batches.store.pending_count())
        self.metrics.gauge("kumo_scoring_jobs_active", "Batch scoring jobs scoring or composing their output",
                           lambda: self.scoring.store.pending_count())
        self.metrics.gauge("kumo_vectorize_vectors", "Vectors in the indexes loaded (embedded) or stored (PostgreSQL)",
                           lambda: self.vectorize.loaded_vector_count())
        self._clients: list = []
        self._started = False

    def _logpush(self, settings: Settings, data_dir: Path) -> LogPusher | None:
        """The gateways' Logpush, when the operator named where logs go."""
        if not settings.gateway_logpush_destination:
            return None
        return LogPusher(logpush_destination.parse(settings.gateway_logpush_destination, self.r2),
                         data_dir / "gateway-logpush",
                         lambda account, gateway: self.gateways.for_request(account, gateway, may_create=False),
                         interval=settings.gateway_logpush_interval)

    def _check_gateway(self, account: str, gateway: dict) -> None:
        """What a gateway's settings need beyond their shape: the guard model, a Logpush destination."""
        guardrails.check_available(self.ai, gateway)
        logpush_destination.check(self.logpush.destination if self.logpush else None, account, gateway)

    def start(self) -> None:
        """Start background threads (the ANN indexer). Async workers start in `start_async`."""
        if not self._started:
            self.vectorize.start()
            self.r2.start()
            self._started = True

    async def start_async(self, app=None) -> None:
        """Start what lives on the event loop: batch workers, and the gateway's HTTP clients (the
        workers-ai provider calls `app` in process)."""
        use_thread_pool(asyncio.get_running_loop())
        await self.aisearch.start()
        if self.settings.batch_worker:
            self.batches.start()
            self.scoring_workers.start()
        if app is not None:
            import httpx

            from kumo.api.asgi_transport import StreamingASGITransport
            from kumo.gateway.breaker import StepCircuits
            from kumo.gateway.controls import Controls
            from kumo.gateway.pipeline import Pipeline
            from kumo.gateway.upstream_http import AiohttpUpstream, HttpxUpstream

            client = AiohttpUpstream(max_connections=1000, connect_timeout=10, read_timeout=300)
            self_client = HttpxUpstream(httpx.AsyncClient(transport=StreamingASGITransport(app), timeout=300))
            self._clients = [client, self_client]
            self.gateway_pipeline = Pipeline(
                service=self.gateways, cache=self.gateway_cache, limiter=self.rate_limiter, logs=self.gateway_logs,
                client=client, self_client=self_client, upstreams=self.settings.upstream_overrides(PROVIDERS),
                grants=self.settings.api_tokens, stream_idle_timeout=self.settings.gateway_stream_idle_timeout,
                metrics=self.metrics, require_auth=self.settings.gateway_require_auth,
                first_token_timeout=self.settings.gateway_first_token_timeout,
                circuits=StepCircuits(self.settings.gateway_circuit_failures, self.settings.gateway_circuit_cooldown),
                controls=Controls(spend_counter=self.spend_counter, provider_keys=self.provider_keys,
                                  limiter=self.rate_limiter, grants=self.settings.api_tokens, ai=self.ai,
                                  telemetry=self.telemetry),
            )

    def pipeline(self) -> Pipeline:
        """The gateway's data plane (built by `start_async`, which the app's lifespan runs)."""
        if self.gateway_pipeline is None:
            raise RuntimeError("the gateway's pipeline is not built: start_async has not run")
        return self.gateway_pipeline

    async def stop_async(self) -> None:
        await self.aisearch.stop()
        await self.batches.stop()
        await self.scoring_workers.stop()
        for client in self._clients:
            await client.aclose()
        if hasattr(self.rate_limiter, "close"):
            await self.rate_limiter.close()
        if hasattr(self.spend_counter, "close"):
            await self.spend_counter.close()

    def close(self) -> None:
        self.gateway_logs.close()  # flush logs first
        if self.logpush is not None:
            self.logpush.close()  # then push what they handed over
        self.custom_models.close()
        self.telemetry.close()  # then the spans they made
        self.aisearch.close()
        self.vectorize.close()
        self.r2.close()
        self.ai.close()
        self.batches.store.close()
        self.gateways.store.close()
        self.gateway_cache.close()
        if self.postgres is not None:
            self.postgres.close()  # shared by the stores above: closed once they are done


def platform_of(request: Request) -> Platform:
    """The Platform serving this request (put on `app.state` by `create_app`)."""
    return request.app.state.platform
