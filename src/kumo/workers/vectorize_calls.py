"""The Vectorize binding's calls (workerd's `vectorize-api`, index version v2) mapped onto kumo's REST routes.
    GET  http://vector-search/info                 -> /vectorize/v2/indexes/{index}/info
    POST http://vector-search/query                -> .../query (vector or vectorId, the same options)
    POST http://vector-search/insert|upsert        -> .../insert|upsert (NDJSON, as sent)
    POST http://vector-search/getByIds|deleteByIds -> .../get_by_ids|delete_by_ids
The index is not in the request: it is the one the session names for this binding. Answers are the bare
result with status 200 (the binding treats any other status as an error), errors `{code, error}`."""
from __future__ import annotations
import orjson
from urllib.parse import quote

from fastapi.responses import JSONResponse
from starlette.responses import Response

from kumo.vectorize.errors import INVALID_VECTOR
from kumo.workers.context import CallContext
from kumo.workers.inner import InnerAnswer, InnerRequest, Reshape
from kumo.workers.protocol import BindingCall

MAX_BINDING_BATCH = 1000  # the Workers binding's limit per write (HTTP allows 5000)
NOT_COVERED = 7000
OPERATIONS = {  # binding endpoint -> (method, REST route under the index)
    "info": ("GET", "info"),
    "query": ("POST", "query"),
    "insert": ("POST", "insert"),
    "upsert": ("POST", "upsert"),
    "getByIds": ("POST", "get_by_ids"),
    "deleteByIds": ("POST", "delete_by_ids"),
}


def vectorize_error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "error": message}, status_code=status)


def bare_result(answer: InnerAnswer) -> Response:
    try:
        body = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        body = None
    if answer.status == 200 and isinstance(body, dict) and "result" in body:
        return Response(orjson.dumps(body["result"]), status_code=200,
                        media_type="application/json")
    first = (body.get("errors") or [{}])[0] if isinstance(body, dict) else {}
    if isinstance(first, dict) and first.get("message"):
        return vectorize_error(answer.status if answer.status != 200 else 500, first.get("code", 10000),
                               first["message"])
    return vectorize_error(answer.status if answer.status != 200 else 500, 10000 + answer.status,
                           answer.body.decode("utf-8", "replace")[:1000] or f"HTTP {answer.status}")


def _write_size(call: BindingCall) -> int:
    declared = call.headers.get("cf-vector-search-dim-height", "")
    if declared.isascii() and declared.isdigit() and len(declared) <= 19:
        return int(declared)
    return sum(1 for line in call.body.splitlines() if line.strip())


def map_vectorize_call(call: BindingCall, ctx: CallContext) -> tuple[InnerRequest, Reshape] | Response:
    index = ctx.session.indexes.get(call.binding)
    if index is None:
        return vectorize_error(400, NOT_COVERED, f"binding {call.binding!r} names no Vectorize index in this session: "
                                                 "start the Worker with `kumo workers dev` or `wrangler dev`")
    operation = OPERATIONS.get(call.path.lstrip("/"))
    if operation is None:
        return vectorize_error(404, NOT_COVERED, f"kumo does not serve the Vectorize binding call {call.path} "
                                                 "(v1 indexes are not served: kumo's indexes are v2)")
    method, route = operation
    if call.method != method:
        return vectorize_error(405, NOT_COVERED, f"{call.path} takes {method}, not {call.method}")
    if route in ("insert", "upsert") and _write_size(call) > MAX_BINDING_BATCH:
        return vectorize_error(400, INVALID_VECTOR, f"{_write_size(call)} vectors in one call; the binding's limit "
                                                    f"is {MAX_BINDING_BATCH}")
    path = f"/client/v4/accounts/{quote(ctx.account, safe='')}/vectorize/v2/indexes/{quote(index, safe='')}/{route}"
    headers = {"content-type": call.headers.get("content-type", "application/json"), **ctx.auth()}
    return InnerRequest(method, path, headers, call.body if method == "POST" else b""), bare_result
