"""Workers AI's `POST /ai/run/{model}` served straight from ASGI, in front of FastAPI's router, when the answer
is the JSON envelope: the catalog's models and custom models (`@custom/...`) run on a JSON body.

Like the Vectorize and gateway fronts it sits inside the shared middleware (trailing slash, body size limit,
metrics, request log, the error envelope for anything unexpected) and skips what such a call does not need:
FastAPI's routing over every product's routes, dependency solving, request objects. It checks the same
credentials (`authorize`), decodes the body by the same rules, and answers through the same code
(ai/answers.py) with the same headers and error codes as ai/routes.py. Everything else goes on to that route,
the body replayed if it was read: the batch API (any query string), streams (`"stream": true`), raw audio or
image bodies, the unified `/ai/run`, and paths with odd characters (the route's checks refuse them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from kumo.ai import answers
from kumo.api.asgi_body import read_body, replayed
from kumo.api.auth import authorize
from kumo.api.envelope import from_error
from kumo.api.fronts import Template, first_headers, plain, send_envelope
from kumo.custom_models import CALLER_KEY_HEADER
from kumo.errors import KumoError

if TYPE_CHECKING:
    from kumo.platform import Platform

PREFIX = "/client/v4/accounts/"
RUN = Template("/client/v4/accounts/{account_id}/ai/run/{model:path}")


class AiFront:
    def __init__(self, app: ASGIApp, platform: Platform):
        self.app = app
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("query_string"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        # {account}/ai/run/{model...}; the account and the model non-empty, as FastAPI's `{name}` is
        parts = path[len(PREFIX):].split("/", 3) if path.startswith(PREFIX) else []
        if (len(parts) != 4 or parts[1] != "ai" or parts[2] != "run" or not parts[0] or not parts[3]
                or not plain(parts[0] + parts[3])):
            await self.app(scope, receive, send)
            return
        account, model = parts[0], parts[3]
        scope["route"] = RUN
        try:
            headers = first_headers(scope)
            authorize(self.platform.settings.api_tokens, headers, account)
            raw = await read_body(receive)
            inputs = answers.decode_input(raw, headers.get("content-type", ""))
            onward = isinstance(inputs, bytes) or answers.streams(inputs)
            if not onward:
                platform = self.platform
                answer = await answers.answer(platform.ai, platform.custom_models, account, model, inputs,
                                              headers.get(CALLER_KEY_HEADER))
        except KumoError as exc:
            await from_error(exc)(scope, receive, send)
            return
        if onward:  # a raw audio or image body, or a stream: the route's
            await self.app(scope, replayed(raw, receive), send)
            return
        if answer.body is not None:  # a model that answers an image: rare, so the route's own Response
            await Response(answer.body, media_type=answer.content_type, headers=answer.headers)(scope, receive, send)
            return
        await send_envelope(send, answer.result, answer.headers)
