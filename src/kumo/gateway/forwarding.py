"""Sending a request upstream: timeouts to the first byte, retries with backoff (honouring Retry-After),
and the classes of failure that count as errors (network errors, timeouts, 429 and 5xx)."""

from __future__ import annotations

import asyncio
import email.utils
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from kumo.gateway.errors import UPSTREAM_TIMEOUT, UPSTREAM_UNREACHABLE, GatewayError
from kumo.gateway.options import RequestOptions
from kumo.gateway.upstream_http import Upstream, UpstreamBroken, UpstreamResponse, UpstreamTimeout

RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 60.0


@dataclass
class Sent:
    response: UpstreamResponse  # unread; the caller reads and closes it
    attempts: int


def retry_after_seconds(response: UpstreamResponse) -> float | None:
    value = response.headers.get("retry-after-ms")
    if value:
        try:
            return min(float(value) / 1000, MAX_RETRY_AFTER_S)
        except ValueError:
            pass
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return min(float(value), MAX_RETRY_AFTER_S)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return min(max(parsed.timestamp() - time.time(), 0.0), MAX_RETRY_AFTER_S) if parsed else None


def backoff_delay(options: RequestOptions, attempt: int) -> float:
    base = options.retry_delay_ms / 1000
    if options.backoff == "linear":
        return base * attempt
    if options.backoff == "exponential":
        return base * (2 ** (attempt - 1))
    return base


async def send(client: Upstream, method: str, url: str, headers: dict[str, str], body: bytes,
               options: RequestOptions, retry_timeouts: bool = True) -> Sent:
    """Send with retries. Returns the last response (maybe an error status) or raises GatewayError when no
    response came at all.

    With a fallback to go to (`retry_timeouts` False), a timed-out attempt is not retried: a provider that just
    took the whole timeout is likely to take it again, and the next step is waiting. A `Retry-After` is waited
    for only when the retry can still start within the deadline (the request timeout, or MAX_RETRY_AFTER_S without
    one, counted from the first attempt); a longer one makes this answer the step's last."""
    timeout = options.timeout_ms / 1000 if options.timeout_ms else None
    deadline = time.monotonic() + (timeout if timeout is not None else MAX_RETRY_AFTER_S)
    attempts = max(1, options.max_attempts)
    for attempt in range(1, attempts + 1):
        try:
            response = await asyncio.wait_for(client.open(method, url, headers, body), timeout)
        except (asyncio.TimeoutError, UpstreamTimeout):
            if attempt == attempts or not retry_timeouts:
                waited = f"within {options.timeout_ms} ms" if options.timeout_ms else "(the connection timed out)"
                raise GatewayError(504, UPSTREAM_TIMEOUT, f"the provider sent no response {waited}") from None
            await asyncio.sleep(backoff_delay(options, attempt))
            continue
        except UpstreamBroken as exc:
            if attempt == attempts:
                raise GatewayError(502, UPSTREAM_UNREACHABLE,
                                   f"could not reach the provider at {urlsplit(url).hostname}: {exc}") from None
            await asyncio.sleep(backoff_delay(options, attempt))
            continue
        if response.status in RETRYABLE and attempt < attempts:
            wait = retry_after_seconds(response)
            if wait is not None and time.monotonic() + wait > deadline:
                return Sent(response, attempt)  # asked to wait past the deadline: this answer stands
            await response.close()
            await asyncio.sleep(wait if wait is not None else backoff_delay(options, attempt))
            continue
        return Sent(response, attempt)
    raise AssertionError("unreachable")  # pragma: no cover
