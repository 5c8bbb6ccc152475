"""Vectorize's data plane (`query`, `get_by_ids`) served straight from ASGI, in front of FastAPI's router.

Like the gateway's front (kumo.gateway.front) it sits inside the shared middleware (trailing slash, body
size limit, metrics, request log, the error envelope for anything unexpected) and skips what a query does
not need: FastAPI's routing over every product's routes, dependency solving, request objects. It checks
the same credentials (`authorize`), reads the body with the same rules (`read_json`'s messages), calls the
same service and answers the same envelope and error codes as `routes.py`, which keeps every other
Vectorize route.

The service runs on a worker thread, so the event loop parses the next request while hnswlib (which
releases the GIL) searches on the other core. One case runs it on the loop instead: a query alone in the
process (no other request of any product in flight) on an index the embedded engine holds in memory, not
asking for stored metadata: the hop to a thread and back costs ~0.15 ms of CPU and two wake-ups, and
nothing waits meanwhile. Anything that may touch a database (PostgreSQL, SQLite) stays off the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Receive, Scope, Send

from kumo.api.asgi_body import read_body
from kumo.api.auth import authorize
from kumo.api.body import parse_json
from kumo.api.envelope import from_error
from kumo.api.fronts import Template, first_headers, plain, send_envelope
from kumo.errors import InvalidRequest, KumoError
from kumo.vectorize.query_rules import QueryOptions

if TYPE_CHECKING:
    from kumo.platform import Platform
    from kumo.vectorize.service import VectorizeService

PREFIX = "/client/v4/accounts/"


ROUTE_PREFIX = "/client/v4/accounts/{account_id}/vectorize/v2/indexes/{index_name}/"
OPERATIONS = {op: Template(ROUTE_PREFIX + op) for op in ("query", "get_by_ids")}


class VectorizeFront:
    def __init__(self, app: ASGIApp, platform: Platform):
        self.app = app
        self.platform = platform
        self.in_flight = 0  # HTTP requests of every product between their start and their end

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self._serve(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        # {account}/vectorize/v2/indexes/{name}/{operation}, named parts non-empty as FastAPI's `{name}` is
        parts = scope["path"][len(PREFIX):].split("/")
        if (len(parts) != 6 or parts[1:4] != ["vectorize", "v2", "indexes"] or not parts[0] or not parts[4]
                or parts[5] not in OPERATIONS or not plain(parts[0] + parts[4])):
            await self.app(scope, receive, send)
            return
        account, name, operation = parts[0], parts[4], parts[5]
        scope["route"] = OPERATIONS[operation]
        try:
            authorize(self.platform.settings.api_tokens, first_headers(scope), account)
            body = _json_object(await read_body(receive))
            service = self.platform.vectorize
            call: Callable[..., Any]
            args: tuple[Any, ...]
            if operation == "query":
                call, args = _query, (service, account, name, body)
            else:
                call, args = service.get_by_ids, (account, name, body.get("ids"))
            if (self.in_flight == 1 and operation == "query" and body.get("vectorId") is None
                    and body.get("returnMetadata") not in ("all", True) and service.holds_in_memory(account, name)):
                result = call(*args)
            else:
                result = await asyncio.get_running_loop().run_in_executor(None, call, *args)
        except KumoError as exc:
            await from_error(exc)(scope, receive, send)
            return
        await send_envelope(send, result)


def _query(service: VectorizeService, account: str, name: str, body: dict) -> dict:
    options = QueryOptions.from_body(body)
    return service.query(account, name, body.get("vector"), body.get("vectorId"), options)


def _json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, under `kumo.api.body`'s rules and messages (depth, numbers, surrogates)."""
    if not raw.strip():
        raise InvalidRequest("The request body is empty; expected a JSON object.", code=10001)
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise InvalidRequest(f"Expected a JSON object in the request body, got {type(data).__name__}.")
    return data
