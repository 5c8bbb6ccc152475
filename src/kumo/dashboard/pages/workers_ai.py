"""Workers AI pages: the catalog with what each model runs on here (its own weights, a declared stand-in, or
nothing yet), and a playground: chat streamed token by token, embeddings, speech recognition from an uploaded
file and image classification."""

from __future__ import annotations

import math
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from kumo.api.sse import sse_response
from kumo.dashboard.guard import Visitor, checked_post, signed_in
from kumo.dashboard.pages import Page, page_router
from kumo.dashboard.templating import render
from kumo.errors import InvalidRequest, KumoError
from kumo.platform import platform_of

router = page_router("workers-ai")
PAGE = Page("workers-ai", "Workers AI", router, "Models, what runs them, and a playground")
RUNS_ON = {"present": "weights here", "stand-in": "stand-in", "absent": "absent"}
PLAYGROUND_TASKS = ("text-generation", "text-embeddings", "automatic-speech-recognition", "image-classification")
MAX_UPLOAD = 25 * 1024 * 1024


def _catalog(request: Request) -> list[dict[str, Any]]:
    ai = platform_of(request).ai
    rows = []
    for entry in ai.catalog:
        state, stand_in = ai.status(entry)
        rows.append({"name": entry.name, "task": entry.task.slug, "runtime": entry.runtime, "state": state,
                     "runs_on": RUNS_ON[state], "stand_in": stand_in, "description": entry.description})
    return rows


@router.get("")
async def catalog(request: Request, account_id: str, task: str = "", visitor: Visitor = Depends(signed_in)) -> Response:
    rows = _catalog(request)
    tasks = sorted({r["task"] for r in rows})
    if task:
        rows = [r for r in rows if r["task"] == task]
    return render(request, "workers_ai/catalog.html", visitor, models=rows, tasks=tasks, task=task)


def _models_for(request: Request, task: str) -> list[dict[str, Any]]:
    return [r for r in _catalog(request) if r["task"] == task and r["state"] != "absent"]


@router.get("/playground")
async def playground(request: Request, account_id: str, model: str = "", visitor: Visitor = Depends(signed_in)
                     ) -> Response:
    return _playground(request, visitor, model=model)


def _playground(request: Request, visitor: Visitor, status: int = 200, **context: Any) -> Response:
    models = {task: _models_for(request, task) for task in PLAYGROUND_TASKS}
    return render(request, "workers_ai/playground.html", visitor, status=status, models=models,
                  result=context.pop("result", None), error=context.pop("error", None),
                  form=context.pop("form", {}), **context)


@router.post("/chat")
async def chat(request: Request, account_id: str, visitor: Visitor = Depends(checked_post)) -> Response:
    """The answer as server-sent events (`data: {"response": ...}`), as /ai/run streams it."""
    form = await request.form()
    model, prompt = str(form.get("model") or ""), str(form.get("prompt") or "").strip()
    system = str(form.get("system") or "").strip()
    try:
        max_tokens = int(str(form.get("max_tokens") or "256"))
    except ValueError:
        raise InvalidRequest("max_tokens must be a whole number") from None
    if not prompt:
        raise InvalidRequest("Write a prompt first.")
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    served, events = await platform_of(request).ai.stream(model, {"messages": messages, "stream": True,
                                                                   "max_tokens": max_tokens})
    return sse_response(events, headers={"x-kumo-model": served})


@router.post("/run")
async def run(request: Request, account_id: str, visitor: Visitor = Depends(checked_post)) -> Response:
    """Embeddings, speech recognition or image classification: the result drawn on the playground page."""
    form = await request.form(max_part_size=MAX_UPLOAD)
    kind, model = str(form.get("kind") or ""), str(form.get("model") or "")
    shown = {"kind": kind, "model": model, "text": str(form.get("text") or "")}
    ai = platform_of(request).ai
    try:
        if kind == "embeddings":
            texts = [t.strip() for t in shown["text"].splitlines() if t.strip()]
            if not texts:
                raise InvalidRequest("Write one text per line.")
            out = await ai.run(model, {"text": texts})
            vectors = out.output.result["data"]
            result = {"kind": kind, "model": out.model, "rows": [
                {"text": t, "dims": len(v), "norm": math.sqrt(sum(x * x for x in v)), "head": v[:6]}
                for t, v in zip(texts, vectors)]}
        elif kind in ("speech", "image"):
            upload = form.get("file")
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise InvalidRequest("Choose a file to upload.")
            data = await upload.read()
            if not data:
                raise InvalidRequest("The file is empty.")
            field = "audio" if kind == "speech" else "image"
            out = await ai.run(model, {field: list(data)})
            result = {"kind": kind, "model": out.model, "output": out.output.result, "file": upload.filename}
        else:
            raise InvalidRequest("Pick embeddings, speech or image.")
    except KumoError as exc:
        return _playground(request, visitor, status=exc.status, error=exc.message, form=shown, model=model)
    return _playground(request, visitor, result=result, form=shown, model=model)
