"""`/dashboard/{account}`: gateways with their analytics drawn (requests, errors, cache hits, tokens, cost by
provider over time) and latest logs; Vectorize indexes; models and what runs them. Plain HTML + inline SVG.
With API tokens configured, pass `?token=` (the access log redacts it)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from kumo.api.auth import authorize
from kumo.api.routing import blocking, platform_of
from kumo.dashboard.charts import stacked_bars
from kumo.errors import KumoError
from kumo.gateway.log_query import LogQuery

router = APIRouter(prefix="/dashboard")
WINDOWS = {"1h": (timedelta(hours=1), "minute"), "24h": (timedelta(hours=24), "hour"), "30d": (timedelta(days=30), "day")}

STYLE = """body{font:14px system-ui,sans-serif;margin:24px;color:#111}h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}td,th{border-bottom:1px solid #e5e7eb;padding:4px 10px;text-align:left}
th{background:#f9fafb}.num{text-align:right}.bad{color:#b91c1c}.muted{color:#6b7280}a{color:#2563eb}
.cards{display:flex;gap:12px}.card{border:1px solid #e5e7eb;border-radius:6px;padding:8px 14px}.card b{font-size:18px}"""


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
                        f"<style>{STYLE}</style></head><body>{body}</body></html>")


@router.get("/{account_id}", response_class=HTMLResponse)
async def dashboard(request: Request, account_id: str, gateway: str | None = None, window: str = "24h"):
    platform = platform_of(request)
    token = request.query_params.get("token")
    try:
        authorize(platform.settings.api_tokens, {"authorization": f"Bearer {token or 'dev'}"} if (
            token or not platform.settings.api_tokens) else {}, account_id)
    except KumoError as exc:
        return HTMLResponse(f"<p>{escape(exc.message)} Add <code>?token=…</code> to the address.</p>", exc.status)
    if window not in WINDOWS:
        window = "24h"
    gateways, _ = await blocking(platform.gateways.list, account_id, 1, 100, None)
    parts = [f"<h1>kumo — account {escape(account_id)}</h1>"]
    links = " · ".join(f"<a href='?gateway={escape(g['id'])}&window={window}'>{escape(g['id'])}</a>" for g in gateways)
    parts.append(f"<p>Gateways: {links or '<span class=muted>none yet</span>'}</p>")
    chosen = gateway or (gateways[0]["id"] if gateways else None)
    if chosen:
        parts.append(await _gateway_section(platform, account_id, chosen, window))
    indexes = await blocking(platform.vectorize.list_indexes, account_id)
    rows = "".join(f"<tr><td>{escape(ix['name'])}</td><td class=num>{ix['config']['dimensions']}</td>"
                   f"<td>{escape(ix['config']['metric'])}</td><td>{escape(ix['created_on'][:19])}</td></tr>"
                   for ix in indexes)
    parts.append(f"<h2>Vectorize indexes</h2><table><tr><th>name</th><th>dims</th><th>metric</th><th>created</th></tr>"
                 f"{rows or '<tr><td colspan=4 class=muted>none</td></tr>'}</table>")
    model_rows = []
    for entry in platform.ai.catalog:
        state, stand_in = platform.ai.status(entry)
        where = {"present": "weights here", "stand-in": f"stand-in: {stand_in}", "absent": "no weights"}[state]
        model_rows.append(f"<tr><td>{escape(entry.name)}</td><td>{escape(entry.task.name)}</td><td>{escape(where)}</td></tr>")
    parts.append("<h2>Workers AI models</h2><table><tr><th>model</th><th>task</th><th>runs on</th></tr>"
                 + "".join(model_rows) + "</table>")
    return _page(f"kumo — {account_id}", "".join(parts))


_STEP = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
_LABEL = {"minute": "%Y-%m-%dT%H:%M", "hour": "%Y-%m-%dT%H:00", "day": "%Y-%m-%d"}


def _timeline(start: datetime, span: timedelta, bucket: str) -> list[str]:
    """Every bucket of the window, empty ones included, so the x axis is time."""
    step, fmt = _STEP[bucket], _LABEL[bucket]
    labels, t = [], start
    while t <= start + span:
        labels.append(t.strftime(fmt))
        t += step
    return list(dict.fromkeys(labels))


def _cost(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


async def _gateway_section(platform, account_id: str, gateway_id: str, window: str) -> str:
    span, bucket = WINDOWS[window]
    since = (datetime.now(timezone.utc) - span).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    await blocking(platform.gateway_logs.flush, 5)
    rows = await blocking(platform.gateways.store.analytics, account_id, gateway_id, since, bucket)
    buckets = _timeline(datetime.now(timezone.utc) - span, span, bucket)
    index = {b: i for i, b in enumerate(buckets)}
    by = defaultdict(lambda: defaultdict(lambda: [0.0] * len(buckets)))
    totals = defaultdict(float)
    for r in rows:
        i = index.get(r["bucket"])
        if i is None:
            continue
        by["requests"][r["provider"]][i] += r["requests"]
        by["tokens"][r["provider"]][i] += r["tokens_in"] + r["tokens_out"]
        by["cost"][r["provider"]][i] += r["cost"]
        by["outcome"]["errors"][i] += r["errors"]
        by["outcome"]["cache hits"][i] += r["cached"]
        by["outcome"]["other"][i] += r["requests"] - r["errors"] - r["cached"]
        for key in ("requests", "errors", "cached", "tokens_in", "tokens_out", "cost"):
            totals[key] += r[key]
    windows = " ".join(f"<a href='?gateway={escape(gateway_id)}&window={w}'>{w}</a>" for w in WINDOWS)
    out = [f"<h2>Gateway {escape(gateway_id)} — last {window} <small>({windows})</small></h2><div class=cards>",
           f"<div class=card>requests<br><b>{int(totals['requests'])}</b></div>",
           f"<div class=card>errors<br><b>{int(totals['errors'])}</b></div>",
           f"<div class=card>cache hits<br><b>{int(totals['cached'])}</b></div>",
           f"<div class=card>tokens in / out<br><b>{int(totals['tokens_in'])} / {int(totals['tokens_out'])}</b></div>",
           f"<div class=card>cost<br><b>${totals['cost']:.4f}</b></div></div>"]
    out.append(stacked_bars("Requests by provider", buckets, dict(by["requests"])))
    out.append(stacked_bars("Errors and cache hits", buckets, dict(by["outcome"])))
    out.append(stacked_bars("Tokens by provider", buckets, dict(by["tokens"])))
    out.append(stacked_bars("Cost by provider (USD)", buckets, dict(by["cost"]), unit="$"))
    logs, _ = await blocking(platform.gateways.store.query_logs, account_id, gateway_id, LogQuery(per_page=20))
    log_rows = "".join(
        f"<tr><td>{escape(l['created_at'][11:19])}</td><td>{escape(l['provider'])}</td><td>{escape(l['model'])}</td>"
        f"<td class='num{'' if l['success'] else ' bad'}'>{l['status_code']}</td><td class=num>{l['duration']}</td>"
        f"<td class=num>{l['tokens_in'] or ''}/{l['tokens_out'] or ''}</td>"
        f"<td class=num>{_cost(l['cost'])}</td>"
        f"<td>{'HIT' if l['cached'] else ''}</td></tr>" for l in logs)
    out.append("<h2>Latest requests</h2><table><tr><th>time</th><th>provider</th><th>model</th><th>status</th>"
               "<th>ms</th><th>tokens</th><th>cost $</th><th>cache</th></tr>" + log_rows + "</table>")
    return "".join(out)
