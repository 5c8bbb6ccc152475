"""AI Gateway pages: gateways (list, create, delete), analytics over a window, the settings editor (saved through
GatewayService, so the next request runs with them) and the log explorer with its live tail."""

from __future__ import annotations

import json
from html import escape
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import MultiDict

from kumo.api.threads import blocking
from kumo.dashboard.charts import lines, stacked_bars
from kumo.dashboard.guard import Visitor, checked_post, signed_in
from kumo.dashboard.pages import Page, page_router
from kumo.dashboard.templating import environment, render
from kumo.errors import InvalidRequest
from kumo.gateway.analytics import WINDOWS
from kumo.gateway.log_query import parse_log_query
from kumo.platform import platform_of

router = page_router("ai-gateway")
PAGE = Page("ai-gateway", "AI Gateway", router, "Gateways, analytics, logs and settings")
PER_PAGE = 25
BODY_SHOWN = 64 * 1024  # bytes of a stored body shown in the detail pane


def _gateways(request: Request):
    return platform_of(request).gateways


async def _flushed(request: Request) -> None:
    await blocking(platform_of(request).gateway_logs.flush, 5)  # the page shows requests just made


# ---- gateways ------------------------------------------------------------------------------------------
@router.get("")
async def gateways(request: Request, account_id: str, visitor: Visitor = Depends(signed_in)) -> Response:
    items, _ = await blocking(_gateways(request).list, account_id, 1, 100, None)
    return render(request, "gateway/list.html", visitor, gateways=items, error=None, new_id="")


@router.post("")
async def create(request: Request, account_id: str, visitor: Visitor = Depends(checked_post)) -> Response:
    form = await request.form()
    new_id = str(form.get("id") or "").strip()
    body = {"id": new_id, "cache_invalidate_on_update": False, "cache_ttl": None, "collect_logs": True,
            "rate_limiting_interval": None, "rate_limiting_limit": None}
    try:
        await blocking(_gateways(request).create, account_id, body)
    except InvalidRequest as exc:
        items, _ = await blocking(_gateways(request).list, account_id, 1, 100, None)
        return render(request, "gateway/list.html", visitor, status=400, gateways=items, error=exc.message,
                      new_id=new_id)
    return RedirectResponse(f"/dashboard/{account_id}/ai-gateway/{new_id}", status_code=303)


@router.post("/{gateway_id}/delete")
async def delete(request: Request, account_id: str, gateway_id: str,
                 visitor: Visitor = Depends(checked_post)) -> Response:
    await blocking(_gateways(request).delete, account_id, gateway_id)
    return RedirectResponse(f"/dashboard/{account_id}/ai-gateway", status_code=303)


# ---- analytics -----------------------------------------------------------------------------------------
@router.get("/{gateway_id}")
async def analytics(request: Request, account_id: str, gateway_id: str, window: str = "24h",
                    visitor: Visitor = Depends(signed_in)) -> Response:
    if window not in WINDOWS:
        window = "24h"
    await _flushed(request)
    data = await blocking(_gateways(request).analytics, account_id, gateway_id, window)
    b = data.buckets
    providers = data.by_bucket
    outcome = {"errors": [r.errors for r in data.per_bucket], "cache hits": [r.cached for r in data.per_bucket],
               "other": [r.requests - r.errors - r.cached for r in data.per_bucket]}
    width, height = 610, 210  # two charts side by side at 1280 px, drawn 1:1
    by_provider = {p: [r.requests for r in rs] for p, rs in providers.items()}
    tokens = {p: [r.tokens_in + r.tokens_out for r in rs] for p, rs in providers.items()}
    cost = {p: [r.cost for r in rs] for p, rs in providers.items()}
    latency = {"p50": [r.percentile(0.5) for r in data.per_bucket], "p95": [r.percentile(0.95) for r in data.per_bucket]}
    charts = [
        stacked_bars("Requests by provider", b, by_provider, width=width, height=height),
        stacked_bars("Errors and cache hits", b, outcome, width=width, height=height),
        stacked_bars("Tokens by provider (in + out)", b, tokens, width=width, height=height),
        stacked_bars("Cost by provider (USD)", b, cost, unit="$", width=width, height=height),
        lines("Latency p50 / p95", b, latency, unit=" ms", width=width, height=height),
    ]
    models = sorted(data.by_model.items(), key=lambda kv: -kv[1].requests)
    return render(request, "gateway/analytics.html", visitor, gateway_id=gateway_id, window=window,
                  windows=list(WINDOWS), total=data.total, charts=charts, models=models, tab="analytics")


# ---- settings ------------------------------------------------------------------------------------------
INT_FIELDS = ("cache_ttl", "rate_limiting_limit", "rate_limiting_interval", "log_management", "retry_max_attempts",
              "retry_delay")
BOOL_FIELDS = ("collect_logs", "cache_invalidate_on_update", "authentication")
CHOICE_FIELDS = {"rate_limiting_technique": ("fixed", "sliding"),
                 "log_management_strategy": ("STOP_INSERTING", "DELETE_OLDEST"),
                 "retry_backoff": ("constant", "linear", "exponential")}
FIELDS = INT_FIELDS + BOOL_FIELDS + tuple(CHOICE_FIELDS)


@router.get("/{gateway_id}/settings")
async def settings_page(request: Request, account_id: str, gateway_id: str,
                        visitor: Visitor = Depends(signed_in)) -> Response:
    gateway = await blocking(_gateways(request).get, account_id, gateway_id)
    return _settings(request, visitor, gateway_id, gateway, {}, saved=request.query_params.get("saved") == "1")


def _settings(request: Request, visitor: Visitor, gateway_id: str, values: dict, errors: dict[str, str],
              saved: bool = False, status: int = 200) -> HTMLResponse:
    return render(request, "gateway/settings.html", visitor, status=status, gateway_id=gateway_id, values=values,
                  errors=errors, saved=saved, choices=CHOICE_FIELDS, tab="settings")


@router.post("/{gateway_id}/settings")
async def save_settings(request: Request, account_id: str, gateway_id: str,
                        visitor: Visitor = Depends(checked_post)) -> Response:
    service = _gateways(request)
    current = await blocking(service.get, account_id, gateway_id)
    form = await request.form()
    body: dict[str, Any] = dict(current)  # settings this form does not show are kept as they are
    errors: dict[str, str] = {}
    shown: dict[str, Any] = dict(current)
    for name in INT_FIELDS:
        raw = str(form.get(name) or "").strip()
        shown[name] = raw
        try:
            body[name] = int(raw) if raw else None
        except ValueError:
            errors[name] = "Enter a whole number, or leave it empty."
    for name in BOOL_FIELDS:
        body[name] = shown[name] = form.get(name) == "on"
    for name, options in CHOICE_FIELDS.items():
        raw = str(form.get(name) or "")
        shown[name] = raw
        if raw and raw not in options:
            errors[name] = f"Choose one of {', '.join(options)}."
        body[name] = raw or None
    if not errors:
        try:
            await blocking(service.update, account_id, gateway_id, body)
        except InvalidRequest as exc:
            errors = _field_errors(exc.message)
        else:
            return RedirectResponse(f"/dashboard/{account_id}/ai-gateway/{gateway_id}/settings?saved=1",
                                    status_code=303)
    return _settings(request, visitor, gateway_id, shown, errors, status=400)


def _field_errors(message: str) -> dict[str, str]:
    """The service's message ("cache_ttl: Input should be ...; ...") split onto the fields it names."""
    errors: dict[str, str] = {}
    for part in message.split("; "):
        named = [f for f in FIELDS if part.startswith(f + ":") or f in part]
        for field in named or ["form"]:
            text = part.split(":", 1)[1].strip() if part.startswith(field + ":") else part
            errors[field] = (errors[field] + " " + text) if field in errors else text
    return errors


# ---- logs ----------------------------------------------------------------------------------------------
FILTER_FIELDS = ("status", "provider", "model", "cached", "min_cost", "max_cost", "min_duration", "max_duration",
                 "meta_key", "meta_value", "search")


def _filters(params: Any) -> dict[str, str]:
    return {k: str(params.get(k) or "").strip() for k in FILTER_FIELDS}


def _log_query(filters: dict[str, str], after: str | None = None):
    """The explorer's fields as the logs API's parameters, parsed by the API's own parser."""
    pairs: list[tuple[str, str]] = [("per_page", str(PER_PAGE))]
    triples: list[tuple[str, str, str]] = []
    status = filters["status"]
    if status in ("errors", "success"):
        pairs.append(("success", "false" if status == "errors" else "true"))
    elif status:
        triples.append(("status_code", "eq", status))
    for key in ("provider", "model", "min_cost", "max_cost", "min_duration", "max_duration", "search"):
        if filters[key]:
            pairs.append((key, filters[key]))
    if filters["cached"] in ("true", "false"):
        pairs.append(("cached", filters["cached"]))
    if filters["meta_key"]:
        triples.append(("metadata.key", "eq", filters["meta_key"]))
    if filters["meta_value"]:
        triples.append(("metadata.value", "eq", filters["meta_value"]))
    if after:
        triples.append(("created_at", "gt", after))
    for key, op, value in triples:
        pairs += [("filters.key", key), ("filters.operator", op), ("filters.value", value)]
    return parse_log_query(MultiDict(pairs))


@router.get("/{gateway_id}/logs")
async def logs(request: Request, account_id: str, gateway_id: str, before: str | None = None,
               before_id: str | None = None, log: str | None = None, visitor: Visitor = Depends(signed_in)) -> Response:
    service = _gateways(request)
    filters = _filters(request.query_params)
    cursor = (before, before_id or "~") if before else None
    await _flushed(request)
    error = None
    try:
        items, info = await blocking(service.explore_logs, account_id, gateway_id, _log_query(filters), cursor)
    except InvalidRequest as exc:
        items, info, error = [], {"next": None}, exc.message
    detail = await _detail(request, account_id, gateway_id, log) if log else None
    query = {k: v for k, v in filters.items() if v}
    here = {**query, **({"before": before, "before_id": before_id or "~"} if before else {})}
    older = urlencode({**query, "before": info["next"][0], "before_id": info["next"][1]}) if info.get("next") else None
    return render(request, "gateway/logs.html", visitor, gateway_id=gateway_id, items=items, filters=filters,
                  detail=detail, error=error, tab="logs", query=urlencode(query), page_query=urlencode(here),
                  older=older, partial=info.get("partial"), searched_to=info.get("searched_to"), paged=bool(before))


async def _detail(request: Request, account_id: str, gateway_id: str, log_id: str) -> dict[str, Any]:
    service = _gateways(request)
    item = await blocking(service.log, account_id, gateway_id, log_id)
    for which in ("request", "response"):
        raw = await blocking(service.log_body, account_id, gateway_id, log_id, which)
        item[f"{which}_body"] = _shown_body(raw)
    try:
        item["metadata"] = json.loads(item.get("metadata") or "{}")
    except ValueError:
        pass
    return item


def _shown_body(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    text = raw[:BODY_SHOWN].decode("utf-8", errors="replace")
    try:
        text = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)[:BODY_SHOWN]
    except (ValueError, UnicodeDecodeError):
        pass
    return text + ("\n… (cut)" if len(raw) > BODY_SHOWN else "")


@router.get("/{gateway_id}/logs-tail")
async def tail(request: Request, account_id: str, gateway_id: str, after: str | None = None,
               visitor: Visitor = Depends(signed_in)) -> Response:
    """Rows newer than `after` (the newest row's created_at), as table rows for the live tail."""
    filters = _filters(request.query_params)
    await _flushed(request)
    try:
        items, _ = await blocking(_gateways(request).explore_logs, account_id, gateway_id, _log_query(filters, after))
    except InvalidRequest as exc:
        return HTMLResponse(f"<tr><td colspan='9' class='error'>{escape(exc.message)}</td></tr>", status_code=400)
    query = urlencode({k: v for k, v in filters.items() if v})
    html = environment().get_template("gateway/log_rows.html").render(
        visitor=visitor, gateway_id=gateway_id, items=items, page_query=query, detail=None)
    return HTMLResponse(html)


@router.post("/{gateway_id}/logs/{log_id}")
async def annotate(request: Request, account_id: str, gateway_id: str, log_id: str,
                   visitor: Visitor = Depends(checked_post)) -> Response:
    form = await request.form()
    feedback, score = str(form.get("feedback") or ""), str(form.get("score") or "").strip()
    back = str(form.get("back") or "")
    try:
        body = {"feedback": int(feedback) if feedback else None, "score": float(score) if score else None}
    except ValueError:
        raise InvalidRequest("feedback is -1, 0 or 1 and score a number from 0 to 100") from None
    await blocking(_gateways(request).annotate_log, account_id, gateway_id, log_id, body)
    kept = {k: v for k, v in parse_qsl(back) if k in FILTER_FIELDS or k in ("before", "before_id")}  # as it was
    target = f"/dashboard/{account_id}/ai-gateway/{gateway_id}/logs?" + urlencode({**kept, "log": log_id})
    return RedirectResponse(target, status_code=303)
