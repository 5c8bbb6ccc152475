"""AI Search over HTTP, as the `cloudflare` SDK's `client.aisearch` calls it:
`/client/v4/accounts/{account_id}/ai-search/namespaces/{name}/instances/{id}/...` and the older
`/ai-search/instances/{id}/...` (the `default` namespace). Every route answers both. Management answers use
the v4 envelope; chat completions answer OpenAI's shape (plus `chunks`), as Cloudflare does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from kumo.aisearch.instance_config import DEFAULT_NAMESPACE
from kumo.aisearch.errors import bad_config, job_not_found
from kumo.aisearch.items import item_object
from kumo.aisearch.service import AiSearchService, namespace_object
from kumo.aisearch.store import InstanceRecord, JobRecord
from kumo.api.body import read_json
from kumo.api.envelope import FastJSONResponse, ok
from kumo.api.headers import content_disposition
from kumo.api.routing import account_router, grant_of
from kumo.api.threads import blocking
from kumo.api.sse import sse_response
from kumo.platform import platform_of
from kumo.errors import PermissionDenied
from kumo.r2.credentials import check_scope
from kumo.r2.errors import AccessDenied

router = account_router("/ai-search")
INSTANCE_BASES = ("/instances", "/namespaces/{name}/instances")
UPLOAD_LIMIT = 100 * 1024 * 1024


def _service(request: Request) -> AiSearchService:
    return platform_of(request).aisearch


def _where(request: Request) -> tuple[AiSearchService, str, str]:
    return _service(request), request.path_params["account_id"], request.path_params.get("name", DEFAULT_NAMESPACE)


async def _instance(request: Request) -> InstanceRecord:
    service, account, namespace = _where(request)
    return await blocking(service.instance, account, namespace, request.path_params["id"])


async def _object(request: Request, required: bool = True) -> dict[str, Any]:
    data = await read_json(request, empty=... if required else {})
    if not isinstance(data, dict):
        raise bad_config(f"expected a JSON object in the request body, got {type(data).__name__}")
    return data


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_config(f"`{name}` must be an integer") from None
    if not low <= value <= high:
        raise bad_config(f"`{name}` must be from {low} to {high}")
    return value


def _page(request: Request) -> tuple[int, int]:
    return _int(request, "page", 1, 1, 1_000_000), _int(request, "per_page", 20, 1, 100)


def _paged(rows: list, total: int, page: int, per_page: int) -> JSONResponse:
    return ok(rows, result_info={"page": page, "per_page": per_page, "count": len(rows), "total_count": total})


def _flag(value: Any) -> bool:
    return isinstance(value, bool) and value or str(value).strip().lower() in ("true", "1", "yes")


def _route(path: str, methods: list[str], bases: tuple[str, ...] = INSTANCE_BASES) -> Callable:
    def register(fn: Callable) -> Callable:
        for base in bases:
            router.add_api_route(base + path, fn, methods=methods, include_in_schema=base == bases[-1])
        return fn
    return register


# ---- namespaces ----------------------------------------------------------------------------------------
@router.post("/namespaces")
async def create_namespace(request: Request, account_id: str) -> JSONResponse:
    body = await _object(request)
    return ok(await blocking(_service(request).create_namespace, account_id, body.get("name"),
                             body.get("description")), status=201)


@router.get("/namespaces")
async def list_namespaces(request: Request, account_id: str) -> JSONResponse:
    page, per_page = _page(request)
    rows = await blocking(_service(request).list_namespaces, account_id)
    search = request.query_params.get("search")
    if search:
        rows = [r for r in rows if search.lower() in r["name"]]
    return _paged(rows[(page - 1) * per_page : page * per_page], len(rows), page, per_page)


@router.get("/namespaces/{name}")
async def read_namespace(request: Request, account_id: str, name: str) -> JSONResponse:
    return ok(namespace_object(await blocking(_service(request).namespace, account_id, name)))


@router.put("/namespaces/{name}")
async def update_namespace(request: Request, account_id: str, name: str) -> JSONResponse:
    body = await _object(request)
    return ok(await blocking(_service(request).update_namespace, account_id, name, body.get("description")))


@router.delete("/namespaces/{name}")
async def delete_namespace(request: Request, account_id: str, name: str) -> JSONResponse:
    await blocking(_service(request).delete_namespace, account_id, name)
    return ok({"name": name})


@router.post("/namespaces/{name}/search")
async def search_namespace(request: Request, account_id: str, name: str) -> JSONResponse:
    return ok(await _service(request).search_namespace(account_id, name, await _object(request),
                                                       _credentials(request)))


@router.post("/namespaces/{name}/chat/completions")
async def chat_namespace(request: Request, account_id: str, name: str) -> Response:
    result, served = await _service(request).chat_namespace(account_id, name, await _object(request),
                                                             _credentials(request))
    return _chat_response(result, served, None)


def _check_bucket_scope(request: Request, body: dict[str, Any]) -> None:
    """An instance over an R2 bucket reads it: the token must be allowed to read that bucket (its R2 scopes)."""
    source = body.get("source")
    if isinstance(source, str) and source and not source.startswith("/"):
        try:
            check_scope(grant_of(request), "GET", source)
        except AccessDenied as exc:  # in AI Search's own error shape
            raise PermissionDenied(exc.message, code=10000) from None


# ---- instances -----------------------------------------------------------------------------------------
@_route("", ["POST"])
async def create_instance(request: Request) -> JSONResponse:
    service, account, namespace = _where(request)
    body = await _object(request)
    _check_bucket_scope(request, body)
    return ok(await service.create_instance(account, namespace, body), status=201)


@_route("", ["GET"])
async def list_instances(request: Request) -> JSONResponse:
    service, account, name = _where(request)
    namespace: str | None = name
    if "name" not in request.path_params:  # the older path lists every namespace unless asked for one
        namespace = request.query_params.get("namespace")
    elif name != DEFAULT_NAMESPACE:
        await blocking(service.namespace, account, name)
    direction = request.query_params.get("order_by_direction", "asc")
    if direction not in ("asc", "desc"):
        raise bad_config("`order_by_direction` must be asc or desc")
    page, per_page = _page(request)
    rows = await blocking(service.list_instances, account, namespace, request.query_params.get("search"), direction)
    return _paged(rows[(page - 1) * per_page : page * per_page], len(rows), page, per_page)


@_route("/{id}", ["GET"])
async def read_instance(request: Request) -> JSONResponse:
    return ok(_service(request).instance_object(await _instance(request)))


@_route("/{id}", ["PUT"])
async def update_instance(request: Request) -> JSONResponse:
    service, account, namespace = _where(request)
    body = await _object(request)
    _check_bucket_scope(request, body)
    return ok(await service.update_instance(account, namespace, request.path_params["id"], body))


@_route("/{id}", ["DELETE"])
async def delete_instance(request: Request) -> JSONResponse:
    service, account, namespace = _where(request)
    return ok(await service.delete_instance(account, namespace, request.path_params["id"]))


@_route("/{id}/stats", ["GET"])
async def instance_stats(request: Request) -> JSONResponse:
    service, account, namespace = _where(request)
    return ok(await blocking(service.stats, account, namespace, request.path_params["id"]))


@_route("/{id}/search", ["POST"])
async def search(request: Request) -> JSONResponse:
    service, account, namespace = _where(request)
    result, cache = await service.search(account, namespace, request.path_params["id"], await _object(request),
                                         _credentials(request))
    response = ok(result)
    if cache:
        response.headers["cf-aig-cache-status"] = cache
    return response


@_route("/{id}/chat/completions", ["POST"])
async def chat_completions(request: Request) -> Response:
    service, account, namespace = _where(request)
    result, served, cache = await service.chat(account, namespace, request.path_params["id"],
                                               await _object(request), _credentials(request))
    return _chat_response(result, served, cache)


@_route("/{id}/purge_cache", ["POST"])
async def purge_cache(request: Request) -> JSONResponse:
    service, account, namespace = _where(request)
    return ok(await service.purge_cache(account, namespace, request.path_params["id"]))


def _credentials(request: Request) -> dict[str, str]:
    """What a model call through the instance's AI Gateway carries on the caller's behalf."""
    auth = request.headers.get("authorization")
    return {"authorization": auth} if auth else {}


def _chat_response(result: Any, served: str, cache: str | None) -> Response:
    headers = {"x-kumo-model": served}
    if cache:
        headers["cf-aig-cache-status"] = cache
    if isinstance(result, dict):
        return FastJSONResponse(result, headers=headers)
    return sse_response(result, headers=headers)


# ---- jobs ----------------------------------------------------------------------------------------------
def _job_object(job: JobRecord, service: AiSearchService) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": job.id, "source": job.source, "description": job.description, "started_at": job.started_at,
        "ended_at": job.ended_at, "end_reason": job.end_reason, "last_seen_at": job.last_seen_at}
    run = service.jobs.runs.get(job.pk)
    if run is not None and job.ended_at is None:  # kumo's addition, for progress bars
        out["progress"] = {"done": run.done, "total": run.total}
    return out


async def _job(request: Request) -> tuple[InstanceRecord, JobRecord]:
    instance = await _instance(request)
    job = await blocking(_service(request).job, instance, request.path_params["job_id"])
    if job is None:
        raise job_not_found(request.path_params["job_id"])
    return instance, job


@_route("/{id}/jobs", ["POST"])
async def create_job(request: Request) -> JSONResponse:
    instance = await _instance(request)
    body = await _object(request, required=False)
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise bad_config("`description` must be a string")
    return ok(_job_object(await _service(request).jobs.start_job(instance, "user", description), _service(request)))


@_route("/{id}/jobs", ["GET"])
async def list_jobs(request: Request) -> JSONResponse:
    instance = await _instance(request)
    page, per_page = _page(request)
    jobs, total = await blocking(_service(request).job_records, instance, (page - 1) * per_page, per_page)
    return _paged([_job_object(j, _service(request)) for j in jobs], total, page, per_page)


@_route("/{id}/jobs/{job_id}", ["GET"])
async def get_job(request: Request) -> JSONResponse:
    _, job = await _job(request)
    return ok(_job_object(job, _service(request)))


@_route("/{id}/jobs/{job_id}", ["PATCH"])
async def update_job(request: Request) -> JSONResponse:
    instance, job = await _job(request)
    body = await _object(request)
    if body.get("action") != "cancel":
        raise bad_config("`action` must be `cancel`")
    service = _service(request)
    if await service.jobs.cancel(instance.pk, job.pk):
        await service.jobs.wait(instance.pk, job.pk)
    _, job = await _job(request)
    return ok(_job_object(job, _service(request)))


@_route("/{id}/jobs/{job_id}/logs", ["GET"])
async def job_logs(request: Request) -> JSONResponse:
    _, job = await _job(request)
    page, per_page = _page(request)
    rows = await blocking(_service(request).job_logs, job, (page - 1) * per_page, per_page)
    return ok(rows, result_info={"page": page, "per_page": per_page, "count": len(rows)})


# ---- items ---------------------------------------------------------------------------------------------
@_route("/{id}/items", ["POST"])
async def upload_item(request: Request) -> JSONResponse:
    instance = await _instance(request)
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise bad_config("upload a file as multipart/form-data with a `file` part (and optional `metadata`, "
                         "`wait_for_completion`)")
    form = await request.form(max_part_size=UPLOAD_LIMIT)
    part = form.get("file")
    if not isinstance(part, UploadFile):
        raise bad_config("the multipart body has no `file` part holding a file")
    data = await part.read()
    metadata = form.get("metadata")
    if isinstance(metadata, UploadFile):
        metadata = (await metadata.read()).decode("utf-8", errors="replace")
    wait = _flag(form.get("wait_for_completion", "false"))
    return ok(await _service(request).items.upload(instance, part.filename, data, metadata, wait))


@_route("/{id}/items", ["PUT"])
async def create_or_update_item(request: Request) -> JSONResponse:
    instance = await _instance(request)
    body = await _object(request)
    if body.get("next_action", "INDEX") != "INDEX":
        raise bad_config("`next_action` must be INDEX")
    return ok(await _service(request).items.index_key(instance, body.get("key"),
                                                       _flag(body.get("wait_for_completion", False))))


@_route("/{id}/items", ["GET"])
async def list_items(request: Request) -> JSONResponse:
    instance = await _instance(request)
    page, per_page = _page(request)
    rows, total = await blocking(_service(request).items.list, instance, dict(request.query_params), page, per_page)
    return _paged(rows, total, page, per_page)


@_route("/{id}/items/{item_id}", ["GET"])
async def get_item(request: Request) -> JSONResponse:
    instance = await _instance(request)
    item = await blocking(_service(request).items.get, instance, request.path_params["item_id"])
    return ok(item_object(item, instance.namespace))


@_route("/{id}/items/{item_id}", ["PATCH"])
async def sync_item(request: Request) -> JSONResponse:
    instance = await _instance(request)
    body = await _object(request, required=False)
    if body.get("next_action", "INDEX") != "INDEX":
        raise bad_config("`next_action` must be INDEX")
    items = _service(request).items
    item = await blocking(items.get, instance, request.path_params["item_id"])
    return ok(await items.reindex(instance, item, _flag(body.get("wait_for_completion", False))))


@_route("/{id}/items/{item_id}", ["DELETE"])
async def delete_item(request: Request) -> JSONResponse:
    instance = await _instance(request)
    return ok(await _service(request).items.delete(instance, request.path_params["item_id"]))


@_route("/{id}/items/{item_id}/download", ["GET"])
async def download_item(request: Request) -> Response:
    instance = await _instance(request)
    data, media, key = await _service(request).items.download(instance, request.path_params["item_id"])
    return Response(data, media_type=media, headers={"content-disposition": content_disposition(key.rsplit("/", 1)[-1])})


@_route("/{id}/items/{item_id}/chunks", ["GET"])
async def item_chunks(request: Request) -> JSONResponse:
    instance = await _instance(request)
    limit, offset = _int(request, "limit", 100, 1, 1000), _int(request, "offset", 0, 0, 10_000_000)
    return ok(await blocking(_service(request).items.chunks, instance, request.path_params["item_id"], offset, limit))


@_route("/{id}/items/{item_id}/logs", ["GET"])
async def item_logs(request: Request) -> JSONResponse:
    instance = await _instance(request)
    limit = _int(request, "limit", 50, 1, 1000)
    rows, cursor = await blocking(_service(request).items.logs, instance, request.path_params["item_id"],
                                  request.query_params.get("cursor"), limit)
    return ok(rows, result_info={"count": len(rows), "cursor": cursor})
