"""One typed Settings object, read from flags, `KUMO_*` environment variables and `kumo.toml`.

Precedence (highest first): explicit arguments (CLI flags), environment, kumo.toml, defaults.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class TokenGrant(BaseModel):
    """An API token, optionally limited to some account ids (empty = every account)."""

    token: str
    accounts: list[str] = Field(default_factory=list)
    id: str | None = None  # the token's id (R2's S3 Access Key ID); derived from the token when not given
    r2_read_only: bool = False  # R2 only: objects and buckets may be read, not written
    r2_buckets: list[str] = Field(default_factory=list)  # R2 only: limited to these buckets (empty = all)
    custom_models_trusted: bool = False  # may register joblib/pickle custom model versions (loading runs code)

    def allows(self, account_id: str) -> bool:
        return not self.accounts or account_id in self.accounts

    def __repr__(self) -> str:  # never print the secret
        return (f"TokenGrant(token='***', accounts={self.accounts!r}, id={self.id!r}, "
                f"r2_read_only={self.r2_read_only!r}, r2_buckets={self.r2_buckets!r}, "
                f"custom_models_trusted={self.custom_models_trusted!r})")


def parse_token_list(value: str) -> list[dict[str, Any]]:
    """`tok1,tok2:acct1|acct2` -> grants; a token may be limited to accounts after a colon."""
    grants = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        token, _, accounts = item.partition(":")
        grants.append({"token": token, "accounts": [a for a in accounts.split("|") if a]})
    return grants


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KUMO_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8787
    data_dir: Path = Path(".kumo")
    # NoDecode: the env form is `tok1,tok2:acct1|acct2` (or a JSON list), parsed below.
    api_tokens: Annotated[list[TokenGrant], NoDecode] = Field(default_factory=list)
    insecure: bool = False
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    log_format: Literal["text", "json"] = "text"  # json: one JSON object per log line
    # with API tokens configured, /metrics and /docs (+ /openapi.json) need a token unless these open them
    public_metrics: bool = False
    public_docs: bool = False
    drain_timeout: float = 30.0  # seconds SIGTERM waits for requests in flight (streams too) before cutting them
    # Cloudflare's Vectorize upload limit is 100 MB; JSON endpoints share it.
    max_body_bytes: int = 100 * 1024 * 1024
    workers_dev_port: int | None = None  # also serve HTTPS for *.kumo.workers.dev here (plain `wrangler dev`)
    # Vectorize engine: below this many live vectors an unfiltered query is an exact scan.
    vectorize_ann_threshold: int = 20_000
    vectorize_hnsw_m: int = 16
    vectorize_hnsw_ef_construction: int = 128
    vectorize_hnsw_ef_search: int = 160
    # pgvector's graph reaches recall@10 0.98 at ef_search 40 on bench/vectorize_pgvector.py (0.995 at 100),
    # and each step up costs it more than hnswlib: its own knob
    vectorize_pgvector_ef_search: int = 40
    # Workers AI
    strict_models: bool = False  # no stand-ins: a model without its own weights is an error
    models_dir: Path | None = None  # where pulled weights live [default: <data_dir>/models]
    threads: int | None = None  # inference threads per model [default: all cores]
    models: list[dict[str, Any]] = Field(default_factory=list)  # extra catalog entries (remote models...)
    # Scale-out: PostgreSQL (with pgvector) for all SQL state, shared by several kumo nodes
    database_url: str | None = None  # postgresql://user@host/db [default: SQLite files in data_dir]
    database_max_connections: int = 10
    database_timeout: float = 5.0  # seconds to wait for a connection before answering 503
    batch_worker: bool = True  # run batch jobs in this process (off for nodes that leave them to `kumo worker`)
    batch_lease_seconds: float = 60.0  # a job whose worker stops renewing this long is taken by another
    scoring_concurrency: int = Field(default=2, ge=1, le=64)  # batch scoring chunks one process scores at once
    # Scale-out: Redis for the gateway's cache and rate limits, shared by several kumo nodes
    redis_url: str | None = None
    redis_rate_limit_fail_open: bool = True  # Redis unreachable: allow requests (True) or refuse them
    # Scale-out: R2's object bytes in an S3-compatible engine (SeaweedFS, MinIO, AWS S3), rows in the SQL store
    r2_engine_url: str | None = None  # http(s)://host:port [default: files under data_dir/r2]
    r2_engine_access_key: str | None = None
    r2_engine_secret_key: SecretStr | None = None
    r2_engine_bucket: str = "kumo-r2"  # the one engine bucket kumo keeps every object's bytes in
    r2_engine_region: str = "us-east-1"
    # custom models: loaded models kept in memory, bounded by their files' bytes (files also stay on disk)
    custom_models_cache_bytes: int = 1024 * 1024 * 1024
    # their files on local disk (fetched from R2 once), least recently used out beyond this many bytes
    custom_models_disk_cache_bytes: int = Field(default=10 * 1024 * 1024 * 1024, ge=0)
    custom_models_call_log_rows: int = Field(default=100_000, ge=1)  # per model: the call log keeps its newest calls
    # AI Gateway
    gateway_auto_create: bool = False  # create unknown gateways on first use instead of answering 2001
    # every gateway request needs `cf-aig-authorization: Bearer <API token>`, as if every gateway were authenticated
    gateway_require_auth: bool = False
    # a typo is refused at start, not read as sqlite [default: redis with redis_url, else sqlite]
    gateway_cache: Literal["sqlite", "memory", "redis"] | None = None
    gateway_cache_max_bytes: int = 256 * 1024 * 1024
    gateway_stream_idle_timeout: float = 60.0  # seconds without a chunk before a stream counts as stalled
    # seconds from a universal or /compat step's start to its first answer token [default: the stall deadline]
    gateway_first_token_timeout: float | None = None
    # circuit breaker per gateway, provider and model: skipped after this many failures in a row (0: never) ...
    gateway_circuit_failures: int = 5
    gateway_circuit_cooldown: float = 30.0  # ... for this many seconds, then one request probes it
    # stored provider keys are encrypted with this (any 32+ characters), or the contents of this file (mode 0600);
    # neither: embedded kumo makes <data_dir>/provider-keys.kek; nodes sharing a database must be given one
    gateway_key_encryption_key: str | None = Field(default=None, repr=False)
    gateway_key_encryption_key_file: Path | None = None
    # where gateways with `logpush` on push their logs, as Logpush's destination_conf: r2://<bucket>/<path> (that
    # bucket in each gateway's own account) or https://<host>/<path>?header_<Name>=<value>; none: `logpush` is a 400
    gateway_logpush_destination: str | None = Field(default=None, repr=False)  # the URL may carry credentials
    gateway_logpush_interval: float = Field(default=30.0, gt=0, le=300)  # seconds between pushes (Logpush: 30)
    upstreams: dict[str, str] = Field(default_factory=dict)  # provider slug -> base URL (also KUMO_UPSTREAM_<SLUG>)
    # Dashboard: the key its session cookies are signed with; nodes behind one address need the same one
    # [default: a random key kept in <data_dir>/dashboard-secret]
    dashboard_secret: str | None = Field(default=None, repr=False)

    def upstream_overrides(self, slugs: Iterable[str]) -> dict[str, str]:
        """`[upstreams]` from kumo.toml, then `KUMO_UPSTREAM_<SLUG>` for each of `slugs` (the gateway's
        providers, given by the caller so settings depend on no product; upper-cased, '-' -> '_')."""
        out = dict(self.upstreams)
        for slug in slugs:
            value = os.environ.get("KUMO_UPSTREAM_" + slug.upper().replace("-", "_"))
            if value:
                out[slug] = value
        return out

    @field_validator("gateway_cache")
    @classmethod
    def _redis_cache_needs_redis(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value == "redis" and not info.data.get("redis_url"):
            raise ValueError("the redis cache needs redis_url")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("gateway_logpush_destination")
    @classmethod
    def _logpush_destination(cls, value: str | None) -> str | None:
        """Logpush's destination_conf shapes kumo pushes to (the message never repeats the value: it may hold
        credentials)."""
        if not value:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme == "r2" and parts.netloc and not parts.query:
            return value.strip()
        if parts.scheme in ("http", "https") and parts.netloc:
            return value.strip()
        if parts.scheme == "r2" and parts.query:
            raise ValueError("kumo writes to its own R2 in process: an r2:// destination takes no account id or "
                             "credentials (remove the query string)")
        raise ValueError("a Logpush destination is r2://<bucket>/<path> or https://<host>/<path>")

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _tokens_from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            stripped = value.strip()
            if stripped.startswith("["):
                return json.loads(stripped)
            return parse_token_list(stripped)
        if isinstance(value, list):
            return [{"token": v} if isinstance(v, str) else v for v in value]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = os.environ.get("KUMO_CONFIG", "kumo.toml")
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_path),
        )

    @property
    def is_loopback(self) -> bool:
        if self.host in ("localhost", ""):
            return self.host == "localhost"
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def auth_required(self) -> bool:
        return bool(self.api_tokens)

