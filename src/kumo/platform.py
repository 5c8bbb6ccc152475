"""The services of one kumo, built once from Settings. The HTTP app, `kumo.Env` and the CLI's
in-process mode all hold a Platform; backends are chosen here and nowhere else."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from starlette.requests import Request

from kumo.ai.batch import BatchQueue
from kumo.ai.catalog import Catalog
from kumo.ai.service import AiService
from kumo.ai.weights import WeightsStore
from kumo.aisearch.service import AiSearchService
from kumo.config import Settings
from kumo.custom_models.service import CustomModelService
from kumo.custom_models.scoring.service import ScoringService
from kumo.custom_models.scoring.workers import ScoringWorkers
from kumo.storage.sql_custom_models import SqlCustomModelStore
from kumo.storage.sql_scoring import SqlScoringStore
from kumo.metrics import Metrics
from kumo.r2.service import R2Service
from kumo.gateway.cache import MemoryCache
from kumo.gateway.controls.byok import ProviderKeys, load_kek
from kumo.gateway.controls import guardrails
from kumo.gateway.controls.otel import OtelExport
from kumo.gateway.controls.spend import MemorySpendCounter
from kumo.gateway.logpush import destination as logpush_destination
from kumo.gateway.logpush.pusher import LogPusher
from kumo.gateway.logs import LogWriter
from kumo.gateway.providers import PROVIDERS
from kumo.gateway.ratelimit import MemoryRateLimiter
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


def r2_engine_config(settings: Settings):
    """The S3-compatible engine R2's bytes go to (an EngineConfig), or None for files under data_dir."""
    if not settings.r2_engine_url:
        return None
    from kumo.storage.r2_s3engine import EngineConfig

    secret = settings.r2_engine_secret_key.get_secret_value() if settings.r2_engine_secret_key else ""
    return EngineConfig(settings.r2_engine_url, settings.r2_engine_access_key or "", secret,
                        settings.r2_engine_bucket, settings.r2_engine_region)


def _object_store(settings: Settings, postgres):
    """R2's backend: bytes in an S3-compatible engine when one is configured (rows in PostgreSQL when
    scaled out, else SQLite), otherwise files and SQLite under data_dir."""
    data_dir = settings.data_dir
    config = r2_engine_config(settings)
    if config is None:
        return EmbeddedObjectStore(data_dir / "r2", data_dir / "r2.sqlite3")
    from kumo.storage.r2_s3engine import EngineObjectStore

    if postgres is not None:
        return EngineObjectStore(config, postgres, owns_database=False)
    return EngineObjectStore(config, SqliteDatabase(data_dir / "r2.sqlite3", branch="r2"))


AISEARCH_LOCKS = 0x6B61_6973  # advisory lock space of AI Search instances ("kais"), keyed by instance pk


class Platform:
    def __init__(self, settings: Settings):
        self.settings = settings
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
        self.postgres = None
        if settings.database_url:
            from kumo.storage.migrate import upgrade_postgres
            from kumo.storage.postgres import PostgresDatabase

            upgrade_postgres(settings.database_url)  # several nodes may start at once: under an advisory lock
            self.postgres = PostgresDatabase(settings.database_url,
                                             max_connections=settings.database_max_connections,
                                             connect_timeout=settings.database_timeout)
            batch_db = gateway_db = aisearch_db = self.postgres
            from kumo.storage.pg_locks import AdvisoryLocks
            from kumo.storage.pg_vectors import PgVectorStore
            from kumo.vectorize.pg_engine import PgVectorEngine

            # AI Search instances index one thing at a time across nodes
            aisearch_locks = AdvisoryLocks(settings.database_url, AISEARCH_LOCKS, settings.database_timeout)
            vector_store = PgVectorStore(self.postgres, ann.m, ann.ef_construction)
            vector_engine = PgVectorEngine(vector_store, replace(ann, ef_search=settings.vectorize_pgvector_ef_search))
        else:
            batch_db = SqliteDatabase(data_dir / "ai-batches.sqlite3", branch="batches")
            gateway_db = SqliteDatabase(data_dir / "gateway.sqlite3", branch="gateway")
            aisearch_db = SqliteDatabase(data_dir / "aisearch.sqlite3", branch="aisearch")
            aisearch_locks = None  # one process: an asyncio lock per instance
            vector_store = SqliteVectorStore(data_dir / "vectorize.sqlite3")
            vector_engine = EmbeddedEngine(vector_store, data_dir / "vectorize-snapshots", ann)
        self.vectorize = VectorizeService(vector_store, vector_engine)
        self.r2 = R2Service(_object_store(settings, self.postgres))
        self.gateways = GatewayService(SqlGatewayStore(gateway_db), auto_create=settings.gateway_auto_create,
                                       settings_ttl=2.0 if self.postgres else None,
                                       check=self._check_gateway)
        # custom models: registry in SQL (shared by every node), files from R2 cached under the data dir
        custom_db = self.postgres or SqliteDatabase(data_dir / "custom-models.sqlite3", branch="custom_models")
        self.custom_models = CustomModelService(
            SqlCustomModelStore(custom_db), self.r2, data_dir / "custom-models", settings.custom_models_cache_bytes,
            disk_bytes=settings.custom_models_disk_cache_bytes, call_log_rows=settings.custom_models_call_log_rows,
            registry_ttl=2.0 if self.postgres else None)  # nodes sharing a database see a promotion within 2 s
        # batch scoring over R2: jobs in the same SQL, chunks leased by every node and `kumo worker`
        self.scoring = ScoringService(SqlScoringStore(custom_db, settings.batch_lease_seconds), self.r2,
                                      self.custom_models, self.ai, data_dir / "scoring")
        self.scoring_workers = ScoringWorkers(self.scoring, exclusive=self.postgres is None,
                                              concurrency=settings.scoring_concurrency)
        # folder sources: anywhere while kumo is local-only (no tokens), else only under <data_dir>/aisearch-sources
        self.aisearch = AiSearchService(SqlAiSearchStore(aisearch_db), self.ai, self.vectorize,
                                        source_root=data_dir / "aisearch-sources" if settings.api_tokens else None,
                                        locks=aisearch_locks, shared=self.postgres is not None, r2=self.r2,
                                        gateways=self.gateways, gateway_pipeline=lambda: self.gateway_pipeline)
        self.batches = BatchQueue(SqlBatchStore(batch_db, settings.batch_lease_seconds), self.ai,
                                  exclusive=self.postgres is None)
        self.logpush = self._logpush(settings, data_dir)
        self.gateway_logs = LogWriter(self.gateways.store, self.gateways.log_limit,
                                      after_write=self.logpush.add if self.logpush else None)
        self.provider_keys = ProviderKeys(
            SqlProviderKeyStore(gateway_db),
            lambda: load_kek(settings.gateway_key_encryption_key, settings.gateway_key_encryption_key_file,
                             data_dir, shared=self.postgres is not None),
            ttl=2.0)  # a rotation, or a gateway deleted, reaches every node within seconds
        if settings.redis_url:
            from kumo.storage.redis_cache import RedisCache
            from kumo.storage.redis_ratelimit import RedisRateLimiter

            self.gateway_cache = RedisCache(settings.redis_url)
            self.rate_limiter = RedisRateLimiter(settings.redis_url, fail_open=settings.redis_rate_limit_fail_open)
            from kumo.storage.redis_spend import RedisSpendCounter

            self.spend_counter = RedisSpendCounter(settings.redis_url, fail_open=settings.redis_rate_limit_fail_open)
        else:
            if settings.gateway_cache == "memory":
                self.gateway_cache = MemoryCache(settings.gateway_cache_max_bytes)
            else:
                self.gateway_cache = SqliteCache(data_dir / "gateway-cache.sqlite3", settings.gateway_cache_max_bytes)
            self.rate_limiter = MemoryRateLimiter()
            self.spend_counter = MemorySpendCounter()
        self.gateway_pipeline = None  # built on the event loop by start_async (it holds HTTP clients)
        self.telemetry = OtelExport()  # gateways' `otel` exporters, made when first used
        self.ai.metrics = self.metrics
        self.custom_models.metrics = self.metrics
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
        await self.aisearch.start()
        if self.settings.batch_worker:
            self.batches.start()
            self.scoring_workers.start()
        if app is not None:
            import httpx

            from kumo.api.asgi_transport import StreamingASGITransport
            from kumo.gateway.breaker import CircuitBreaker
            from kumo.gateway.controls import Controls
            from kumo.gateway.pipeline import Pipeline
            from kumo.gateway.upstream_http import AiohttpUpstream, HttpxUpstream

            client = AiohttpUpstream(max_connections=1000, connect_timeout=10, read_timeout=300)
            self_client = HttpxUpstream(httpx.AsyncClient(transport=StreamingASGITransport(app), timeout=300))
            self._clients = [client, self_client]
            self.gateway_pipeline = Pipeline(
                self.gateways, self.gateway_cache, self.rate_limiter, self.gateway_logs, client, self_client,
                self.settings.upstream_overrides(PROVIDERS), self.settings.api_tokens, self.settings.gateway_stream_idle_timeout,
                self.metrics, require_auth=self.settings.gateway_require_auth,
                first_token_timeout=self.settings.gateway_first_token_timeout,
                breaker=CircuitBreaker(self.settings.gateway_circuit_failures, self.settings.gateway_circuit_cooldown),
                controls=Controls(self.spend_counter, self.provider_keys, self.rate_limiter, self.settings.api_tokens, self.ai,
                                  self.telemetry),
            )

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
