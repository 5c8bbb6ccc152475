"""Vectorize v2 over HTTP: `/client/v4/accounts/{account_id}/vectorize/v2/indexes...` (camelCase)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from kumo.api.body import read_json
from kumo.api.envelope import ok
from kumo.api.routing import account_router
from kumo.api.threads import blocking
from kumo.errors import InvalidRequest
from kumo.vectorize.batch import parse_batch
from kumo.vectorize.errors import UNKNOWN_CONTENT_TYPE, invalid
from kumo.vectorize.query_rules import QueryOptions
from kumo.vectorize.service import VectorizeService
from kumo.platform import platform_of

router = account_router("/vectorize/v2/indexes")
MULTIPART_LIMIT = 100 * 1024 * 1024


def _service(request: Request) -> VectorizeService:
    return platform_of(request).vectorize


async def _object(request: Request) -> dict[str, Any]:
    data = await read_json(request)
    if not isinstance(data, dict):
        raise InvalidRequest(f"Expected a JSON object in the request body, got {type(data).__name__}.")
    return data


@router.post("")
async def create_index(request: Request, account_id: str) -> JSONResponse:
    body = await _object(request)
    result = await blocking(
        _service(request).create_index, account_id, body.get("name"), body.get("config"), body.get("description")
    )
    return ok(result, status=201)


@router.get("")
async def list_indexes(request: Request, account_id: str) -> JSONResponse:
    return ok(await blocking(_service(request).list_indexes, account_id))


@router.get("/{index_name}")
async def get_index(request: Request, account_id: str, index_name: str) -> JSONResponse:
    return ok(await blocking(_service(request).get_index, account_id, index_name))


@router.delete("/{index_name}")
async def delete_index(request: Request, account_id: str, index_name: str) -> JSONResponse:
    await blocking(_service(request).delete_index, account_id, index_name)
    return ok(None)


@router.get("/{index_name}/info")
async def index_info(request: Request, account_id: str, index_name: str) -> JSONResponse:
    return ok(await blocking(_service(request).info, account_id, index_name))


async def _vectors_body(request: Request) -> bytes:
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_part_size=MULTIPART_LIMIT)
        part = form.get("vectors")
        if part is None:
            raise invalid("unknown_content_type", "multipart body has no `vectors` part", UNKNOWN_CONTENT_TYPE)
        return part.encode() if isinstance(part, str) else await part.read()
    return await request.body()


async def _write(request: Request, account_id: str, index_name: str, upsert: bool) -> JSONResponse:
    behavior = request.query_params.get("unparsable_behavior", "error")
    if behavior not in ("error", "discard"):
        raise InvalidRequest("`unparsable_behavior` must be `error` or `discard`.")
    service = _service(request)
    info = await blocking(service.info, account_id, index_name)  # 404 before reading a big body
    body = await _vectors_body(request)
    batch = await blocking(parse_batch, body, info["dimensions"], discard_bad=behavior == "discard")
    return ok(await blocking(service.write, account_id, index_name, batch, upsert=upsert))


@router.post("/{index_name}/insert")
async def insert(request: Request, account_id: str, index_name: str) -> JSONResponse:
    return await _write(request, account_id, index_name, upsert=False)


@router.post("/{index_name}/upsert")
async def upsert(request: Request, account_id: str, index_name: str) -> JSONResponse:
    return await _write(request, account_id, index_name, upsert=True)


# `query` and `get_by_ids` are served by kumo.vectorize.front before FastAPI routes a request; these two
# routes document them (/docs) and answer them where the front is not mounted.
@router.post("/{index_name}/query")
async def query(request: Request, account_id: str, index_name: str) -> JSONResponse:
    body = await _object(request)
    options = QueryOptions.from_body(body)
    result = await blocking(
        _service(request).query, account_id, index_name, body.get("vector"), body.get("vectorId"), options
    )
    return ok(result)


@router.post("/{index_name}/get_by_ids")
async def get_by_ids(request: Request, account_id: str, index_name: str) -> JSONResponse:
    body = await _object(request)
    return ok(await blocking(_service(request).get_by_ids, account_id, index_name, body.get("ids")))


@router.post("/{index_name}/delete_by_ids")
async def delete_by_ids(request: Request, account_id: str, index_name: str) -> JSONResponse:
    body = await _object(request)
    return ok(await blocking(_service(request).delete_by_ids, account_id, index_name, body.get("ids")))


@router.get("/{index_name}/list")
async def list_vectors(request: Request, account_id: str, index_name: str) -> JSONResponse:
    raw_count = request.query_params.get("count")
    count: Any = None
    if raw_count is not None:
        if not (raw_count.isascii() and raw_count.isdigit()) or len(raw_count) > 4:
            raise InvalidRequest("`count` must be an integer from 1 to 1000.")
        count = int(raw_count)
    cursor = request.query_params.get("cursor")
    return ok(await blocking(_service(request).list_vectors, account_id, index_name, count, cursor))


@router.post("/{index_name}/metadata_index/create")
async def create_metadata_index(request: Request, account_id: str, index_name: str) -> JSONResponse:
    body = await _object(request)
    result = await blocking(
        _service(request).create_metadata_index, account_id, index_name, body.get("propertyName"),
        body.get("indexType"),
    )
    return ok(result)


@router.get("/{index_name}/metadata_index/list")
async def list_metadata_indexes(request: Request, account_id: str, index_name: str) -> JSONResponse:
    return ok(await blocking(_service(request).list_metadata_indexes, account_id, index_name))


@router.post("/{index_name}/metadata_index/delete")
async def delete_metadata_index(request: Request, account_id: str, index_name: str) -> JSONResponse:
    body = await _object(request)
    # LangChain's sync client sends `property` instead of `propertyName`; accept both.
    name = body.get("propertyName", body.get("property"))
    return ok(await blocking(_service(request).delete_metadata_index, account_id, index_name, name))
