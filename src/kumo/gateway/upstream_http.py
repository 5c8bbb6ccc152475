"""How the gateway's bytes reach a provider: one small interface, two implementations. Providers on the network
are called with aiohttp directly (httpx's request and response objects over it were ~10 % of a gateway
request's CPU); the in-process `workers-ai` provider through httpx over an ASGI transport that calls this kumo.

Answers come back unread: the pipeline reads them whole or streams their chunks, and closes them either way.
Headers arrive lower-cased, repeated ones joined with ", " (as httpx gave them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Protocol

import aiohttp
import httpx
from yarl import URL


class UpstreamBroken(Exception):
    """No usable answer: the provider could not be reached, or the connection failed or broke off."""


class UpstreamTimeout(UpstreamBroken):
    """The provider was slower than the client's own connect or read timeout."""


class UpstreamResponse(Protocol):
    status: int
    headers: dict[str, str]

    async def read(self) -> bytes: ...
    def chunks(self) -> AsyncIterator[bytes]: ...
    async def close(self) -> None: ...


class Upstream(Protocol):
    async def open(self, method: str, url: str, headers: dict[str, str], body: bytes) -> UpstreamResponse: ...
    async def aclose(self) -> None: ...


def _joined(pairs) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in pairs:
        name = name.lower()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


# ---- providers on the network --------------------------------------------------------------------------

class AiohttpUpstream:
    def __init__(self, max_connections: int = 1000, keepalive: float = 5.0, connect_timeout: float = 10,
                 read_timeout: float = 300):
        connector = aiohttp.TCPConnector(limit=max_connections, keepalive_timeout=keepalive)
        # no cookie jar: one caller's cookies must never ride along with another's request; no proxies from the
        # environment; no content-type made up for bodies sent without one; redirects are the caller's business
        self.session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout),
            skip_auto_headers=("Content-Type",))

    async def open(self, method: str, url: str, headers: dict[str, str], body: bytes) -> UpstreamResponse:
        try:
            # encoded=True: the URL is sent as upstream.py encoded it (yarl would decode `%3A` in a path, which
            # breaks the SigV4 signature a Bedrock client made over the encoded path)
            response = await self.session.request(method, URL(url, encoded=True), headers=headers,
                                                  data=body or None, allow_redirects=False)
        except asyncio.TimeoutError as exc:  # aiohttp's own timeouts are TimeoutErrors too
            raise UpstreamTimeout(type(exc).__name__) from exc
        except (aiohttp.ClientError, ValueError) as exc:
            raise UpstreamBroken(type(exc).__name__) from exc
        return _AiohttpResponse(response)

    async def aclose(self) -> None:
        await self.session.close()


class _AiohttpResponse:
    __slots__ = ("status", "headers", "_response")

    def __init__(self, response: aiohttp.ClientResponse):
        self._response = response
        self.status = response.status
        self.headers = _joined((k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers)

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise UpstreamBroken(type(exc).__name__) from exc

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise UpstreamBroken(type(exc).__name__) from exc

    async def close(self) -> None:
        self._response.release()  # back to the pool when read to the end, closed otherwise


# ---- this kumo, in process --------------------------------------------------------------------------------

class HttpxUpstream:
    def __init__(self, client: httpx.AsyncClient):
        self.client = client

    async def open(self, method: str, url: str, headers: dict[str, str], body: bytes) -> UpstreamResponse:
        request = self.client.build_request(method, url, headers=headers, content=body)
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(type(exc).__name__) from exc
        except httpx.HTTPError as exc:
            raise UpstreamBroken(type(exc).__name__) from exc
        return _HttpxResponse(response)

    async def aclose(self) -> None:
        await self.client.aclose()


class _HttpxResponse:
    __slots__ = ("status", "headers", "_response")

    def __init__(self, response: httpx.Response):
        self._response = response
        self.status = response.status_code
        self.headers = dict(response.headers.items())  # lower-cased and joined already

    async def read(self) -> bytes:
        try:
            return await self._response.aread()
        except httpx.HTTPError as exc:
            raise UpstreamBroken(type(exc).__name__) from exc

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_bytes():
                yield chunk
        except httpx.HTTPError as exc:
            raise UpstreamBroken(type(exc).__name__) from exc

    async def close(self) -> None:
        await self._response.aclose()
