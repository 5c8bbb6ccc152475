"""One binding call served by kumo's own HTTP API, in process: the REST route it maps to runs through the
app below the binding front (routing, validation, metrics, the gateway's data plane), with no socket.

A `text/event-stream` answer is passed through as it comes (token streams stay streams, and a client that
leaves stops the work: the inner call sees the outer disconnect); anything else is read whole and reshaped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Headers of the inner answer a binding reads or a user may want to see; the rest stay inside.
PASSED_HEADERS = ("content-type", "cache-control", "cf-ai-req-id", "cf-aig-log-id", "cf-aig-cache-status",
                  "cf-aig-event-id", "cf-aig-step", "x-kumo-model")


@dataclass
class InnerRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    query: str = ""
    stream_through: bool = False  # a 200 event stream goes to the binding as it comes


@dataclass
class InnerAnswer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased
    body: bytes = b""

    def passed_headers(self) -> dict[str, str]:
        return {k: v for k, v in self.headers.items() if k in PASSED_HEADERS and k != "content-type"}


Reshape = Callable[[InnerAnswer], Response]


async def serve_inner(app: ASGIApp, outer: Scope, receive: Receive, send: Send, request: InnerRequest,
                      reshape: Reshape) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in request.headers.items()]
    headers.append((b"content-length", str(len(request.body)).encode()))
    scope = {
        "type": "http", "asgi": outer.get("asgi", {"version": "3.0"}), "http_version": "1.1",
        "method": request.method, "scheme": "http", "path": request.path, "raw_path": request.path.encode(),
        "query_string": request.query.encode(), "root_path": "", "headers": headers,
        "client": outer.get("client"), "server": outer.get("server"),
    }
    for key in ("app", "state"):  # set by Starlette on the way in: the routes below read them
        if key in outer:
            scope[key] = outer[key]
    body_sent = False
    answer: InnerAnswer | None = None
    chunks: list[bytes] = []
    streaming = False

    async def inner_receive() -> Message:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": request.body, "more_body": False}
        return await receive()  # the outer body is read: this waits for the client to leave

    async def inner_send(message: Message) -> None:
        nonlocal answer, streaming
        if message["type"] == "http.response.start":
            answer = InnerAnswer(message["status"], {k.decode("latin-1").lower(): v.decode("latin-1")
                                                     for k, v in message.get("headers", ())})
            content_type = answer.headers.get("content-type", "")
            if request.stream_through and answer.status == 200 and content_type.startswith("text/event-stream"):
                streaming = True
                passed = [(k.encode(), v.encode()) for k, v in answer.headers.items() if k in PASSED_HEADERS]
                await send({"type": "http.response.start", "status": 200, "headers": passed})
        elif message["type"] == "http.response.body":
            if streaming:
                await send({"type": "http.response.body", "body": message.get("body", b""),
                            "more_body": message.get("more_body", False)})
            else:
                chunks.append(message.get("body", b""))

    await app(scope, inner_receive, inner_send)
    if streaming:
        return
    if answer is None:  # the app ended without answering: never leave the binding hanging
        answer = InnerAnswer(500, {"content-type": "application/json"}, b'{"errors":[{"code":10002,"message":"no answer"}]}')
    answer.body = b"".join(chunks)
    await reshape(answer)(outer, receive, send)
