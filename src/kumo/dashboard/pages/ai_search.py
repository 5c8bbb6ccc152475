"""AI Search pages: instances, an instance's items (status and errors), its sync jobs with progress, and a
playground that searches or asks and shows the answer with the sources it was given."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from kumo.api.threads import blocking
from kumo.dashboard.guard import Visitor, checked_post, signed_in
from kumo.dashboard.pages import Page, page_router
from kumo.dashboard.templating import render
from kumo.errors import InvalidRequest, KumoError
from kumo.platform import platform_of

router = page_router("ai-search")
PAGE = Page("ai-search", "AI Search", router, "Instances, items, sync jobs and a search playground")
ITEMS_PAGE = 25
UPLOAD_LIMIT = 100 * 1024 * 1024  # as the API's


def _aisearch(request: Request):
    return platform_of(request).aisearch


@router.get("")
async def instances(request: Request, account_id: str, visitor: Visitor = Depends(signed_in)) -> Response:
    return await _list(request, visitor)


async def _list(request: Request, visitor: Visitor, status: int = 200, error: str | None = None,
                new_id: str = "") -> Response:
    rows = await blocking(_aisearch(request).list_instances, visitor.account, None)
    return render(request, "ai_search/list.html", visitor, status=status, instances=rows, error=error, new_id=new_id)


@router.post("")
async def create(request: Request, account_id: str, visitor: Visitor = Depends(checked_post)) -> Response:
    """An instance with kumo's defaults (files uploaded here, the default embedding and chat models)."""
    new_id = str((await request.form()).get("id") or "").strip()
    try:
        await _aisearch(request).create_instance(account_id, "default", {"id": new_id})
    except KumoError as exc:
        return await _list(request, visitor, exc.status, exc.message, new_id)
    return RedirectResponse(f"/dashboard/{account_id}/ai-search/default/{new_id}", status_code=303)


@router.get("/{namespace}/{instance_id}")
async def instance(request: Request, account_id: str, namespace: str, instance_id: str, page: int = 1,
                   status: str = "", visitor: Visitor = Depends(signed_in)) -> Response:
    return await _instance(request, visitor, namespace, instance_id, page=max(page, 1), status_filter=status)


async def _instance(request: Request, visitor: Visitor, namespace: str, instance_id: str, status: int = 200,
                    page: int = 1, status_filter: str = "", **context: Any) -> Response:
    service = _aisearch(request)
    account = visitor.account
    record = await blocking(service.instance, account, namespace, instance_id)
    stats = await blocking(service.stats, account, namespace, instance_id)
    params = {"status": status_filter} if status_filter else {}
    items, total = await blocking(service.items.list, record, params, page, ITEMS_PAGE)
    jobs, _ = await blocking(service.list_jobs, account, namespace, instance_id, 0, 10)
    return render(request, "ai_search/instance.html", visitor, status=status, namespace=namespace,
                  instance=service.instance_object(record), stats=stats, items=items, total=total, page=page,
                  pages=max(1, -(-total // ITEMS_PAGE)), status_filter=status_filter, jobs=jobs,
                  form=context.pop("form", {}), **context)


@router.post("/{namespace}/{instance_id}/sync")
async def sync(request: Request, account_id: str, namespace: str, instance_id: str,
               visitor: Visitor = Depends(checked_post)) -> Response:
    service = _aisearch(request)
    record = await blocking(service.instance, account_id, namespace, instance_id)
    await service.jobs.start_job(record, "user", "started from the dashboard")
    return RedirectResponse(f"/dashboard/{account_id}/ai-search/{namespace}/{instance_id}", status_code=303)


@router.post("/{namespace}/{instance_id}/items")
async def upload(request: Request, account_id: str, namespace: str, instance_id: str,
                 visitor: Visitor = Depends(checked_post)) -> Response:
    """A file indexed before the page answers, so its status (or error) shows at once."""
    service = _aisearch(request)
    form = await request.form(max_part_size=UPLOAD_LIMIT)
    part = form.get("file")
    try:
        if not isinstance(part, UploadFile) or not part.filename:
            raise InvalidRequest("Choose a file to upload.")
        record = await blocking(service.instance, account_id, namespace, instance_id)
        item = await service.items.upload(record, part.filename, await part.read(), None, True)
    except KumoError as exc:
        return await _instance(request, visitor, namespace, instance_id, status=exc.status, upload_error=exc.message)
    return await _instance(request, visitor, namespace, instance_id,
                           notice=f"{item['key']}: {item['status']}" + (f" ({item['error']})" if item.get("error") else ""))


@router.post("/{namespace}/{instance_id}/ask")
async def ask(request: Request, account_id: str, namespace: str, instance_id: str,
              visitor: Visitor = Depends(checked_post)) -> Response:
    form = await request.form()
    shown = {"query": str(form.get("query") or "").strip(), "mode": str(form.get("mode") or "ask")}
    service = _aisearch(request)
    try:
        if not shown["query"]:
            raise InvalidRequest("Write a question first.")
        if shown["mode"] == "search":
            result, _ = await service.search(account_id, namespace, instance_id, {"query": shown["query"]})
            answer, chunks = None, result["chunks"]
        else:
            result, _, _ = await service.chat(account_id, namespace, instance_id,
                                           {"messages": [{"role": "user", "content": shown["query"]}]})
            answer, chunks = result["choices"][0]["message"]["content"], result["chunks"]
    except KumoError as exc:
        return await _instance(request, visitor, namespace, instance_id, status=exc.status, error=exc.message,
                               form=shown)
    return await _instance(request, visitor, namespace, instance_id, answer=answer, chunks=chunks, form=shown,
                           asked=True)
