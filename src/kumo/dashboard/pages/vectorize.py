"""Vectorize pages: indexes (create, delete), an index's info and metadata indexes, texts added through an
embedding model, a query playground (text -> embedding -> query, with a metadata filter) and a vector browser."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response

from kumo.api.threads import blocking
from kumo.dashboard.guard import Visitor, checked_post, signed_in
from kumo.dashboard.pages import Page, page_router
from kumo.dashboard.templating import render
from kumo.errors import InvalidRequest, KumoError
from kumo.vectorize.batch import parse_items
from kumo.vectorize.query_rules import QueryOptions
from kumo.vectorize.service import PRESETS
from kumo.platform import platform_of

router = page_router("vectorize")
PAGE = Page("vectorize", "Vectorize", router, "Indexes, their vectors, and a query playground")
METRICS = ("cosine", "euclidean", "dot-product")
BROWSE_PAGE = 20


def _vectorize(request: Request):
    return platform_of(request).vectorize


def _embedding_models(request: Request, dims: int | None = None) -> list[str]:
    ai = platform_of(request).ai
    names = []
    for entry in ai.catalog:
        if entry.task.slug != "text-embeddings" or ai.status(entry)[0] == "absent":
            continue
        if dims is None or entry.config.get("dimensions") in (dims, None):
            names.append(entry.name)
    return names


@router.get("")
async def indexes(request: Request, account_id: str, visitor: Visitor = Depends(signed_in)) -> Response:
    return await _list(request, visitor)


async def _list(request: Request, visitor: Visitor, status: int = 200, errors: dict | None = None,
                form: dict | None = None) -> Response:
    items = await blocking(_vectorize(request).list_indexes, visitor.account)
    return render(request, "vectorize/list.html", visitor, status=status, indexes=items, errors=errors or {},
                  form=form or {}, presets=list(PRESETS), metrics=METRICS)


@router.post("")
async def create(request: Request, account_id: str, visitor: Visitor = Depends(checked_post)) -> Response:
    form = {k: str(v).strip() for k, v in (await request.form()).items() if isinstance(v, str)}
    config: dict[str, Any]
    if form.get("preset"):
        config = {"preset": form["preset"]}
    else:
        try:
            config = {"dimensions": int(form.get("dimensions") or ""), "metric": form.get("metric")}
        except ValueError:
            return await _list(request, visitor, 400, {"dimensions": "Enter a whole number of dimensions, or pick a "
                                                                    "preset."}, form)
    try:
        await blocking(_vectorize(request).create_index, account_id, form.get("name", ""), config,
                       form.get("description") or None)
    except KumoError as exc:
        field = "name" if "name" in exc.message else "dimensions" if "dimensions" in exc.message else "form"
        return await _list(request, visitor, exc.status, {field: exc.message}, form)
    return RedirectResponse(f"/dashboard/{account_id}/vectorize/{form['name']}", status_code=303)


@router.post("/{index}/delete")
async def delete(request: Request, account_id: str, index: str, visitor: Visitor = Depends(checked_post)) -> Response:
    await blocking(_vectorize(request).delete_index, account_id, index)
    return RedirectResponse(f"/dashboard/{account_id}/vectorize", status_code=303)


@router.get("/{index}")
async def index_page(request: Request, account_id: str, index: str, cursor: str | None = None,
                     visitor: Visitor = Depends(signed_in)) -> Response:
    return await _index(request, visitor, index, cursor=cursor)


async def _index(request: Request, visitor: Visitor, index: str, status: int = 200, cursor: str | None = None,
                 **context: Any) -> Response:
    service = _vectorize(request)
    account = visitor.account
    described = await blocking(service.get_index, account, index)
    info = await blocking(service.info, account, index)
    metadata_indexes = (await blocking(service.list_metadata_indexes, account, index))["metadataIndexes"]
    listing = await blocking(service.list_vectors, account, index, BROWSE_PAGE, cursor)
    ids = [v["id"] for v in listing["vectors"]]
    vectors = await blocking(service.get_by_ids, account, index, ids) if ids else []
    for v in vectors:
        v["head"] = v.pop("values")[:4]
    return render(request, "vectorize/index.html", visitor, status=status, index=described, info=info,
                  metadata_indexes=metadata_indexes, vectors=vectors, listing=listing, cursor=cursor,
                  models=_embedding_models(request, described["config"]["dimensions"]),
                  errors=context.pop("errors", {}), form=context.pop("form", {}), **context)


async def _embed(request: Request, model: str, texts: list[str]) -> list[list[float]]:
    out = await platform_of(request).ai.run(model, {"text": texts})
    return out.output.result["data"]


@router.post("/{index}/texts")
async def add_texts(request: Request, account_id: str, index: str, visitor: Visitor = Depends(checked_post)
                    ) -> Response:
    """Each line becomes a vector: embedded by the chosen model, its text kept in metadata `text`."""
    form = await request.form()
    model, raw = str(form.get("model") or ""), str(form.get("texts") or "")
    texts = [t.strip() for t in raw.splitlines() if t.strip()][:100]
    try:
        if not texts:
            raise InvalidRequest("Write one text per line (at most 100).")
        extra = _metadata(str(form.get("metadata") or ""))
        vectors = await _embed(request, model, texts)
        described = await blocking(_vectorize(request).get_index, account_id, index)
        items = [(i + 1, {"id": str(uuid.uuid4()), "values": v, "metadata": dict(extra, text=t)})
                 for i, (t, v) in enumerate(zip(texts, vectors))]
        batch = parse_items(items, described["config"]["dimensions"])
        await blocking(_vectorize(request).write, account_id, index, batch, upsert=True)
    except KumoError as exc:
        return await _index(request, visitor, index, status=exc.status, errors={"texts": exc.message},
                            form={"texts": raw, "model": model})
    return await _index(request, visitor, index, notice=f"Added {len(texts)} vectors (embedded by {model}).")


def _metadata(raw: str) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidRequest("Metadata must be a JSON object, for example {\"lang\": \"en\"}.") from None
    if not isinstance(value, dict):
        raise InvalidRequest("Metadata must be a JSON object.")
    return value


@router.post("/{index}/query")
async def query(request: Request, account_id: str, index: str, visitor: Visitor = Depends(checked_post)) -> Response:
    form = await request.form()
    shown = {k: str(form.get(k) or "") for k in ("text", "model", "top_k", "filter", "namespace")}
    try:
        if not shown["text"].strip():
            raise InvalidRequest("Write the text to search for.")
        try:
            top_k = int(shown["top_k"] or "5")
        except ValueError:
            raise InvalidRequest("topK must be a whole number.") from None
        metadata_filter = json.loads(shown["filter"]) if shown["filter"].strip() else None
        vector = (await _embed(request, shown["model"], [shown["text"]]))[0]
        options = QueryOptions(top_k=top_k, return_metadata="all", namespace=shown["namespace"] or None,
                               filter=metadata_filter)
        result = await blocking(_vectorize(request).query, account_id, index, vector, None, options)
    except ValueError:
        return await _index(request, visitor, index, status=400, errors={"filter": "The filter must be JSON, for "
                            "example {\"lang\": {\"$eq\": \"en\"}}."}, form=shown)
    except KumoError as exc:
        field = "filter" if "filter" in exc.message.lower() else "query"
        return await _index(request, visitor, index, status=exc.status, errors={field: exc.message}, form=shown)
    return await _index(request, visitor, index, matches=result["matches"], form=shown)


@router.post("/{index}/metadata-index")
async def metadata_index(request: Request, account_id: str, index: str, visitor: Visitor = Depends(checked_post)
                         ) -> Response:
    form = await request.form()
    service = _vectorize(request)
    prop, kind, action = (str(form.get(k) or "") for k in ("property", "type", "action"))
    try:
        if action == "delete":
            await blocking(service.delete_metadata_index, account_id, index, prop)
        else:
            await blocking(service.create_metadata_index, account_id, index, prop, kind)
    except KumoError as exc:
        return await _index(request, visitor, index, status=exc.status, errors={"property": exc.message})
    return RedirectResponse(f"/dashboard/{account_id}/vectorize/{index}", status_code=303)
