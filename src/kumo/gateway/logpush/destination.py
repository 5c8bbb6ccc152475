"""Where pushed logs go, written as Logpush's `destination_conf`: `r2://<bucket>/<path>` (the bucket of that name in
the gateway's own account, written in process through kumo's R2; `{DATE}` in the path becomes the batch's UTC date)
or `https://<host>/<path>?header_<Name>=<value>` (each batch POSTed gzipped; `header_` parameters become request
headers). The operator names it (a setting), so a caller never chooses where kumo connects."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx


class Destination(Protocol):
    def describe(self) -> str: ...
    def ready(self, account: str) -> str | None: ...  # None, or why a gateway of this account cannot push here
    def push(self, account: str, first: datetime, last: datetime, gzipped: bytes) -> None: ...


def object_name(path: str, first: datetime, last: datetime) -> str:
    """Logpush's file naming: <path>/<start>_<end>_<random>.log.gz, `{DATE}` in the path as YYYYMMDD."""
    stamp = "%Y%m%dT%H%M%SZ"
    prefix = path.replace("{DATE}", first.strftime("%Y%m%d")).strip("/")
    name = f"{first.strftime(stamp)}_{last.strftime(stamp)}_{os.urandom(4).hex()}.log.gz"
    return f"{prefix}/{name}" if prefix else name


@dataclass
class R2Destination:
    """kumo's own R2 (its service, async) driven from the pusher's thread."""

    r2: Any  # kumo.r2.service.R2Service: list_buckets / put_bytes coroutines
    bucket: str
    path: str

    def describe(self) -> str:
        return f"r2://{self.bucket}/{self.path}"

    def ready(self, account: str) -> str | None:
        names = {b.name for b in asyncio.run(self.r2.list_buckets(account))}
        if self.bucket in names:
            return None
        return (f"this kumo pushes logs to the R2 bucket {self.bucket!r} of the gateway's account, and the account "
                f"has none: create it first (`kumo r2 bucket create {self.bucket}`, or the R2 API)")

    def push(self, account: str, first: datetime, last: datetime, gzipped: bytes) -> None:
        asyncio.run(self.r2.put_bytes(account, self.bucket, object_name(self.path, first, last), gzipped))


@dataclass
class HttpDestination:
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 30.0

    def describe(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}{parts.path}"  # never the query: it may hold credentials

    def ready(self, account: str) -> str | None:
        return None

    def push(self, account: str, first: datetime, last: datetime, gzipped: bytes) -> None:
        headers = {"content-type": "application/x-ndjson", "content-encoding": "gzip", **self.headers}
        response = httpx.post(self.url, content=gzipped, headers=headers, timeout=self.timeout)
        if response.status_code >= 300:
            raise OSError(f"{self.describe()} answered {response.status_code}")


def parse(conf: str, r2: Any) -> Destination:
    """A destination from its `destination_conf`, as the settings validated it (kumo.config)."""
    parts = urlsplit(conf)
    if parts.scheme == "r2":
        return R2Destination(r2, parts.netloc, parts.path.strip("/"))
    query = parse_qsl(parts.query, keep_blank_values=True)
    headers = {k[len("header_"):]: v for k, v in query if k.startswith("header_")}
    kept = urlencode([(k, v) for k, v in query if not k.startswith("header_")])
    return HttpDestination(urlunsplit((parts.scheme, parts.netloc, parts.path or "/", kept, "")), headers)


def check(destination: Destination | None, account: str, settings: dict[str, Any]) -> None:
    """A 400 when a gateway turns `logpush` on and its logs have nowhere to go from this kumo."""
    from kumo.errors import InvalidRequest

    if not settings.get("logpush"):
        return
    if destination is None:
        raise InvalidRequest("`logpush`: this kumo has no Logpush destination: the operator sets one with "
                             "KUMO_GATEWAY_LOGPUSH_DESTINATION (r2://<bucket>/<path> or https://<host>/<path>)")
    why = destination.ready(account)
    if why:
        raise InvalidRequest(f"`logpush`: {why}")
