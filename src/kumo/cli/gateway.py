"""`kumo gateway create|list|logs|tail`: manage gateways and read their logs as tables."""

from __future__ import annotations

import json
import time

import click
from rich.table import Table

from kumo.cli.client import client_options, make_client
from kumo.cli.output import console, print_table, styled, table


@click.group()
def gateway() -> None:
    """AI Gateway: gateways and their logs."""


@gateway.command("create")
@click.argument("gateway_id")
@click.option("--cache-ttl", type=int, default=None, help="Cache answers this many seconds (60 s - 1 month).")
@click.option("--rate-limit", type=int, default=None, help="At most this many requests ...")
@click.option("--rate-interval", type=int, default=60, show_default=True, help="... per this many seconds.")
@click.option("--rate-technique", type=click.Choice(["fixed", "sliding"]), default="fixed", show_default=True)
@click.option("--no-logs", is_flag=True, help="Do not collect logs by default.")
@click.option("--authentication", is_flag=True, help="Require cf-aig-authorization on requests.")
@client_options
def create(gateway_id, cache_ttl, rate_limit, rate_interval, rate_technique, no_logs, authentication, **kw):
    """Create a gateway."""
    body = {
        "id": gateway_id, "cache_invalidate_on_update": False, "cache_ttl": cache_ttl, "collect_logs": not no_logs,
        "rate_limiting_limit": rate_limit, "rate_limiting_interval": rate_interval if rate_limit else None,
        "rate_limiting_technique": rate_technique if rate_limit else None, "authentication": authentication,
    }
    base = "http://kumo.local" if kw.get("local") else kw.get("url") or "http://127.0.0.1:8787"
    with make_client(kw) as api:
        gw = api.request("POST", "/ai-gateway/gateways", json=body)
    console.print(f"Created gateway [bold]{gw['id']}[/]. OpenAI SDK base URL: "
                    f"{base}/v1/{api.account}/{gw['id']}/openai")


@gateway.command("list")
@client_options
def list_(**kw):
    """List gateways."""
    with make_client(kw) as api:
        gateways = api.request("GET", "/ai-gateway/gateways", params={"per_page": 100})
    rows = []
    for g in gateways:
        limit = f"{g['rate_limiting_limit']}/{g['rate_limiting_interval']}s {g.get('rate_limiting_technique') or ''}" \
            if g.get("rate_limiting_limit") else ""
        rows.append([g["id"], g.get("cache_ttl") or "", limit, "yes" if g["collect_logs"] else "no",
                     "yes" if g.get("authentication") else "no", g["created_at"]])
    print_table(["id", "cache ttl", "rate limit", "logs", "auth", "created"], rows)


def _log_table(logs: list[dict]) -> Table:
    rows = []
    for entry in logs:
        tokens = f"{entry.get('tokens_in') or 0}/{entry.get('tokens_out') or 0}" if entry.get("tokens_in") is not None else ""
        cost = f"{entry['cost']:.6f}" if entry.get("cost") is not None else ""
        status = str(entry["status_code"]) if entry["success"] else styled(str(entry["status_code"]), "red")
        rows.append([entry["created_at"][11:23], entry["provider"], entry["model"], status, entry["duration"],
                     tokens, cost, "HIT" if entry["cached"] else "", entry["id"]])
    return table(["time", "provider", "model", "status", "ms", "tokens in/out", "cost $", "cache", "id"], rows)


def _filters(provider, model, failed) -> dict:
    params: dict = {}
    if provider:
        params["provider"] = provider
    if model:
        params["model"] = model
    if failed:
        params["success"] = "false"
    return params


@gateway.command("logs")
@click.argument("gateway_id")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--provider")
@click.option("--model")
@click.option("--failed", is_flag=True, help="Only failed requests.")
@click.option("--json", "as_json", is_flag=True)
@client_options
def logs(gateway_id, limit, provider, model, failed, as_json, **kw):
    """Show a gateway's latest requests."""
    with make_client(kw) as api:
        params = {"per_page": min(limit, 50), **_filters(provider, model, failed)}
        result = api.request("GET", f"/ai-gateway/gateways/{gateway_id}/logs", params=params)
    if as_json:
        click.echo(json.dumps(result, indent=1))
        return
    console.print(_log_table(result))


@gateway.command("tail")
@click.argument("gateway_id")
@click.option("--interval", type=float, default=1.0, show_default=True)
@click.option("--count", type=int, default=0, help="Stop after this many polls (0: until Ctrl-C).")
@client_options
def tail(gateway_id, interval, count, **kw):
    """Follow a gateway's requests as they happen."""
    api = make_client(kw)
    seen: set[str] = set()
    polls = 0
    try:
        while True:
            result = api.request("GET", f"/ai-gateway/gateways/{gateway_id}/logs", params={"per_page": 50})
            fresh = [entry for entry in reversed(result) if entry["id"] not in seen]
            if fresh:
                seen.update(entry["id"] for entry in fresh)
                fresh_table = _log_table(fresh)
                fresh_table.show_header = polls == 0
                console.print(fresh_table)
            polls += 1
            if count and polls >= count:
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        api.close()
