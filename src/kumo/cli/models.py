"""`kumo models list|pull|rm`: which models have real weights here, which run on a stand-in, fetching more;
and `register|versions|promote|rollback`: custom models (@custom/<name>) on a server."""

from __future__ import annotations

from pathlib import Path

import click

from kumo.ai.catalog import Catalog
from kumo.ai.service import AiService
from kumo.ai.weights import WeightsStore
from kumo.cli.client import client_options, make_client
from kumo.cli.output import console, print_table, styled
from kumo.config import Settings
from kumo.errors import KumoError

def _service(data_dir: Path | None, strict: bool = False) -> AiService:
    settings = Settings(data_dir=data_dir) if data_dir else Settings()
    weights = WeightsStore(settings.models_dir or settings.data_dir / "models")
    return AiService(Catalog.load(settings.models), weights, strict=strict)


data_dir_option = click.option("--data-dir", type=click.Path(path_type=Path), default=None,
                               help="kumo's data directory [default: ./.kumo].")


@click.group()
def models() -> None:
    """Workers AI models: list, pull weights, remove them; custom models: register, versions, promote, rollback,
    split, shadow, compare."""


@models.command("list")
@click.option("--task", help="Only this task, e.g. 'Text Generation'.")
@data_dir_option
def list_(task, data_dir):
    """Show every catalog model and what runs it here."""
    ai = _service(data_dir)
    rows = []
    for entry in ai.catalog.search(task=task):
        state, stand_in = ai.status(entry)
        if state == "present":
            where = styled("yes", "green") + f" ({ai.weights.source(entry)})"
        elif state == "stand-in":
            where = styled("stand-in:", "yellow") + f" {stand_in}"
        else:
            where = styled("no", "red") + (" (kumo models pull)" if entry.weights.get("hub") else "")
        rows.append([entry.name, entry.task.name, entry.runtime, where])
    print_table(["model", "task", "runtime", "weights here"], rows, no_wrap_first=True)


@models.command("pull")
@click.argument("names", nargs=-1, required=True)
@data_dir_option
def pull(names, data_dir):
    """Download models' real weights from their hub repositories (needs a network)."""
    ai = _service(data_dir)
    for name in names:
        try:
            entry = ai.entry(name)
            console.print(f"Pulling [bold]{name}[/] from {entry.weights.get('hub')} ...")
            path = ai.weights.pull(entry)
        except KumoError as exc:
            raise click.ClickException(exc.message) from None
        console.print(f"[green]Done:[/] {name} -> {path}")


@models.command("rm")
@click.argument("names", nargs=-1, required=True)
@data_dir_option
def rm(names, data_dir):
    """Remove pulled weights."""
    ai = _service(data_dir)
    for name in names:
        try:
            entry = ai.entry(name)
        except KumoError as exc:
            raise click.ClickException(exc.message) from None
        if ai.weights.remove(entry):
            console.print(f"Removed the pulled weights of {name}.")
        else:
            console.print(f"{name} has no pulled weights here.")


# ---- custom models (@custom/<name>): talk to a server like the other product commands ----------------------

def _custom(name: str) -> str:
    """The path segment of a custom model: `@custom/churn` and `churn` are the same model."""
    from kumo.custom_models import PREFIX

    return name[len(PREFIX):] if name.startswith(PREFIX) else name


def _version_rows(versions: list[dict]) -> list[list]:
    rows = []
    for v in versions:
        features = ", ".join(v["features"]) if v.get("features") else f"{v.get('n_features')} (unnamed)"
        rows.append([v["version"], styled("yes", "green") if v["served"] else "", v["format"], v["source"], v["etag"],
                     "yes" if v["trusted"] else "", features, v["created_on"]])
    return rows


@models.command("register")
@click.argument("name")
@click.option("--version", "version", required=True, help="The new version's name, e.g. v2 (immutable).")
@click.option("--from", "source", required=True, metavar="r2://BUCKET/KEY", help="The model file in R2.")
@click.option("--trusted", is_flag=True,
              help="Allow a joblib/pickle file: loading one runs any code it contains.")
@click.option("--format", "fmt", type=click.Choice(["onnx", "skops", "joblib", "pickle"]), default=None,
              help="The file's format [default: from its extension].")
@client_options
def register(name, version, source, trusted, fmt, **kw):
    """Register a version of a custom model (@custom/NAME) from a file in R2."""
    body = {"version": version, "source": source, "trusted": trusted, **({"format": fmt} if fmt else {})}
    with make_client(kw) as api:
        result = api.request("POST", f"/ai/custom-models/{_custom(name)}/versions", json=body)
    served = " (served)" if result["served"] else ""
    console.print(f"[green]Registered[/] {result['model']} {result['version']}{served}: {result['format']}, "
                    f"{result['size']} bytes, etag {result['etag']}")


@models.command("versions")
@click.argument("name")
@client_options
def versions(name, **kw):
    """List a custom model's versions and which one is served."""
    with make_client(kw) as api:
        result = api.request("GET", f"/ai/custom-models/{_custom(name)}/versions")
    print_table(["version", "served", "format", "source", "etag", "trusted", "features", "registered"],
                _version_rows(result))


@models.command("promote")
@click.argument("name")
@click.argument("version")
@client_options
def promote(name, version, **kw):
    """Serve VERSION of a custom model from now on (every node, no restart)."""
    with make_client(kw) as api:
        result = api.request("POST", f"/ai/custom-models/{_custom(name)}/promote", json={"version": version})
    console.print(f"{result['model']} now serves [bold]{result['served_version']}[/]")


@models.command("rollback")
@click.argument("name")
@client_options
def rollback(name, **kw):
    """Serve the version that was served before the current one."""
    with make_client(kw) as api:
        result = api.request("POST", f"/ai/custom-models/{_custom(name)}/rollback")
    console.print(f"{result['model']} rolled back to [bold]{result['served_version']}[/]")


@models.command("split")
@click.argument("name")
@click.argument("weights", nargs=-1, metavar="VERSION=WEIGHT...")
@click.option("--off", is_flag=True, help="End the split: serve the promoted version alone.")
@client_options
def split(name, weights, off, **kw):
    """Split traffic between versions, e.g. `v1=90 v2=10` (sticky per x-kumo-caller-key)."""
    if off == bool(weights):
        raise click.UsageError("give VERSION=WEIGHT pairs, or --off")
    parsed = {}
    for pair in weights:
        version, sep, weight = pair.partition("=")
        if not sep or not (weight.isascii() and weight.isdigit()):
            raise click.UsageError(f"{pair!r}: write VERSION=WEIGHT, e.g. v2=10")
        parsed[version] = int(weight)
    with make_client(kw) as api:
        if off:
            result = api.request("DELETE", f"/ai/custom-models/{_custom(name)}/split")
        else:
            result = api.request("PUT", f"/ai/custom-models/{_custom(name)}/split", json={"weights": parsed})
    if result["split"]:
        shares = ", ".join(f"{v} {w}" for v, w in result["split"].items())
        console.print(f"{result['model']} traffic split: {shares}")
    else:
        console.print(f"{result['model']} serves {result['served_version']} alone")


@models.command("shadow")
@click.argument("name")
@click.argument("version", required=False)
@click.option("--off", is_flag=True, help="Stop copying traffic to a shadow version.")
@client_options
def shadow(name, version, off, **kw):
    """Send a copy of every call to VERSION; its answers are recorded (GET .../shadow), never returned."""
    if off == bool(version):
        raise click.UsageError("give a VERSION, or --off")
    with make_client(kw) as api:
        if off:
            result = api.request("DELETE", f"/ai/custom-models/{_custom(name)}/shadow")
        else:
            result = api.request("PUT", f"/ai/custom-models/{_custom(name)}/shadow", json={"version": version})
    shadowing = f"shadowed by {result['shadow_version']}" if result["shadow_version"] else "no shadow"
    console.print(f"{result['model']} serves {result['served_version']}, {shadowing}")


def _ms(value) -> str:
    return "-" if value is None else f"{value:.2f} ms"


@models.command("compare")
@click.argument("name")
@click.argument("version_a")
@click.argument("version_b")
@click.option("--since", default=None, metavar="WHEN",
              help="Only calls since then: how long ago (30m, 24h, 7d) or an ISO-8601 time [default: the log].")
@client_options
def compare(name, version_a, version_b, since, **kw):
    """Two versions over recent traffic: calls, error rate, latency p50/p99, and how often they agreed on the
    calls one shadowed for the other."""
    params = {"a": version_a, "b": version_b, **({"since": since} if since else {})}
    with make_client(kw) as api:
        result = api.request("GET", f"/ai/custom-models/{_custom(name)}/compare", params=params)
    rows = [(version, s["calls"], s["served_calls"], s["shadow_calls"],
             "-" if s["error_rate"] is None else f"{s['error_rate']:.2%}",
             _ms(s["p50_latency_ms"]), _ms(s["p99_latency_ms"])) for version, s in result["versions"].items()]
    print_table(("version", "calls", "served", "shadow", "error rate", "p50 latency", "p99 latency"), rows)
    agreement = result["agreement"]
    if agreement["rate"] is None:
        console.print(f"agreement: no shadow calls between {version_a} and {version_b} yet "
                      f"(`kumo models shadow {name} {version_b}` sends {version_b} a copy of the traffic)")
    else:
        console.print(f"agreement: {agreement['rate']:.2%} of {agreement['rows']} rows "
                      f"({agreement['calls']} shadow calls)")
