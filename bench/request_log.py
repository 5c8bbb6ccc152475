"""CPU that kumo's request-id + access-line layer (kumo.api.request_log.RequestLog) adds to one request.

Calls a trivial ASGI app directly (no sockets, no event-loop I/O) with and without the layer and prints the
process CPU time per request; the difference is what every gateway request pays. Compared with uvicorn's own
access log (its formatter + the same handler), which the layer replaces.

    .venv/bin/python bench/request_log.py [--n 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time

from kumo.api.access_lines import AccessLines
from kumo.api.request_log import RequestLog
from kumo.api.redaction import RedactQuery
from kumo.log_format import JsonFormatter, RequestIdStamp, TextFormatter

HEADERS = [(b"host", b"127.0.0.1:8787"), (b"user-agent", b"OpenAI/Python 1.99"), (b"authorization", b"Bearer x"),
           (b"content-type", b"application/json"), (b"accept", b"application/json"), (b"content-length", b"99")]
SCOPE = {"type": "http", "method": "POST", "path": "/v1/acct/gw/openai/chat/completions", "query_string": b"",
         "headers": HEADERS, "client": ("127.0.0.1", 50123), "http_version": "1.1"}
START = {"type": "http.response.start", "status": 200,
         "headers": [(b"content-type", b"application/json"), (b"content-length", b"350"),
                     (b"cf-aig-log-id", b"01K0000000000000000000000"), (b"cf-aig-cache-status", b"MISS")]}
BODY = {"type": "http.response.body", "body": b"x" * 350}


async def endpoint(scope, receive, send):
    await send({**START, "headers": list(START["headers"])})
    await send(BODY)


async def receive():
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message):
    pass


async def run(app, n: int, repeats: int = 5) -> float:
    """Best of `repeats` (the machine is shared: the minimum is the least disturbed figure)."""
    for _ in range(2000):  # warm up
        await app(dict(SCOPE), receive, send)
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(n):
            await app(dict(SCOPE), receive, send)
        best = min(best, (time.process_time() - start) / n * 1e6)
    return best


def logger_to_devnull(name: str, formatter: logging.Formatter | None) -> logging.Logger:
    log = logging.getLogger(name)
    log.handlers.clear()
    log.propagate = False
    if formatter is None:
        log.setLevel(logging.WARNING)  # access lines off
        return log
    handler = logging.StreamHandler(open(os.devnull, "w"))
    handler.addFilter(RequestIdStamp())
    handler.setFormatter(formatter)
    log.addHandler(handler)
    log.addFilter(RedactQuery())  # as `kumo serve` sets it up
    log.setLevel(logging.INFO)
    return log


async def uvicorn_style(log: logging.Logger, n: int) -> float:
    """uvicorn's access line for the same request: what kumo's line replaces."""
    from uvicorn.logging import AccessFormatter

    log.handlers[0].setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s',
                                                 use_colors=False))

    async def app(scope, receive, send):
        await endpoint(scope, receive, send)
        log.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:50123", scope["method"], scope["path"], "1.1", 200)

    return await run(app, n)


async def main(n: int) -> None:
    base = await run(endpoint, n)
    print(f"bare ASGI call                               {base:6.2f} µs/request")
    for label, formatter in (("ids only (access lines off)", None), ("ids + text access line", TextFormatter()),
                             ("ids + JSON access line", JsonFormatter())):
        layered = RequestLog(endpoint, AccessLines(logger_to_devnull(f"bench.{label}", formatter)))
        cost = await run(layered, n)
        print(f"RequestLog, {label:32s} {cost:6.2f} µs/request  (+{cost - base:5.2f})")
    uv = await uvicorn_style(logger_to_devnull("bench.uvicorn", TextFormatter()), n)
    print(f"uvicorn's access line (what it replaces)     {uv:6.2f} µs/request  (+{uv - base:5.2f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20_000)
    asyncio.run(main(parser.parse_args().n))
