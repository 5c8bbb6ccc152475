"""Keeps the connection usable after an unexpected exception.

Starlette's ServerErrorMiddleware answers the 500 (through our handler, in the product's shape) and then
re-raises, so servers can log it; uvicorn answers a re-raised exception by closing the connection, and the
client's next request on it fails with "connection reset". Once the 500 has been sent whole, the exception has
been handled and logged: this layer ends it there. An exception in the middle of a response still propagates,
because only closing the connection tells the client that body is incomplete."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("kumo")


LOGGED = "kumo.logged_error"  # the scope's key: the exception the 500 handler answered and logged


def mark_logged(scope: Scope, exc: BaseException) -> None:
    """Said by the handler that answered the 500 and logged it, so it is not logged twice. The mark travels in
    the request's ASGI scope, which the handler's request shares with this layer."""
    scope[LOGGED] = exc


class KeepAliveAfterError:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        complete = False

        async def tracking_send(message: Message) -> None:
            nonlocal complete
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                complete = True

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if not complete:
                raise
            if scope.get(LOGGED) is not exc:  # after the response: a background task failed
                log.exception("unhandled error after the response to %s %s", scope.get("method"), scope.get("path"))
