"""What the gateway needs from durable storage: gateways and their logs. Implementations in `kumo.storage`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class LogRecord:
    id: str
    account: str
    gateway: str
    created_at: str  # ISO-8601, UTC, ms
    provider: str
    model: str
    path: str
    status_code: int
    success: bool
    cached: bool
    duration: int  # ms
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    custom_cost: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    step: int | None = None
    event_id: str | None = None
    model_type: str | None = None
    request_content_type: str | None = None
    response_content_type: str | None = None
    request_type: str | None = None
    request_head: dict[str, str] = field(default_factory=dict)
    response_head: dict[str, str] = field(default_factory=dict)
    request_body: bytes | None = None
    response_body: bytes | None = None
    feedback: int | None = None
    score: float | None = None


class GatewayStore(Protocol):
    def create_gateway(self, account: str, gateway_id: str, settings: dict[str, Any], now: str) -> bool: ...
    def get_gateway(self, account: str, gateway_id: str) -> dict[str, Any] | None: ...
    def list_gateways(self, account: str, search: str | None) -> list[dict[str, Any]]: ...
    def update_gateway(self, account: str, gateway_id: str, settings: dict[str, Any], now: str) -> bool: ...
    def delete_gateway(self, account: str, gateway_id: str) -> None: ...
    def write_logs(self, records: list[LogRecord], limits: dict[tuple[str, str], tuple[int, str]]) -> None: ...
    def query_logs(self, account: str, gateway_id: str, query: Any, totals: bool = True
                   ) -> tuple[list[dict], dict[str, Any]]: ...
    def get_log(self, account: str, gateway_id: str, log_id: str) -> dict[str, Any] | None: ...
    def log_body(self, account: str, gateway_id: str, log_id: str, which: str) -> bytes | None: ...
    def patch_log(self, account: str, gateway_id: str, log_id: str, changes: dict[str, Any]) -> bool: ...
    def delete_logs(self, account: str, gateway_id: str, query: Any) -> int: ...
    def rollups(self, account: str, gateway_id: str, grain: str, since: str, group_by_day: bool = False
                ) -> list[tuple[str, str, str, Any]]: ...
    def save_route(self, account: str, gateway: str, route_id: str, name: str, elements: list, now: str) -> dict: ...
    def get_route(self, account: str, gateway: str, key: str, by: str = "id") -> dict | None: ...
    def list_routes(self, account: str, gateway: str) -> list[dict]: ...
    def route_versions(self, route_id: str) -> list[dict]: ...
    def delete_route(self, account: str, gateway: str, route_id: str) -> bool: ...
    def close(self) -> None: ...
