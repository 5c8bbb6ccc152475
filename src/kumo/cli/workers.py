"""`kumo workers dev`: run a Worker locally in miniflare with its `ai` and `vectorize` bindings served by kumo.

The launcher (kumo/workers/node/dev.mjs) uses the Worker project's own wrangler and miniflare when it has them;
otherwise the versions kumo pins beside the launcher, installed from the npm registry on first use."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import click

LAUNCHER_DIR = Path(__file__).resolve().parent.parent / "workers" / "node"
CONFIG_NAMES = ("wrangler.jsonc", "wrangler.json", "wrangler.toml")


def _config(path: Path | None) -> Path:
    if path is not None:
        if not path.is_file():
            raise click.ClickException(f"no Worker configuration at {path}")
        return path
    for name in CONFIG_NAMES:
        if Path(name).is_file():
            return Path(name)
    raise click.ClickException(f"no {' / '.join(CONFIG_NAMES)} here: pass the Worker's configuration file")


def _has_wrangler(start: Path) -> bool:
    for folder in [start, *start.parents]:
        if (folder / "node_modules" / "wrangler" / "package.json").is_file():
            return True
    return False


def ensure_launcher_packages(npm: str) -> None:
    """The pinned wrangler/miniflare beside the launcher (`npm ci`: exactly the lock file's versions)."""
    if (LAUNCHER_DIR / "node_modules" / "wrangler" / "package.json").is_file():
        return
    click.echo(f"Installing the pinned wrangler and miniflare into {LAUNCHER_DIR} (once)...", err=True)
    result = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=LAUNCHER_DIR)
    if result.returncode != 0:
        raise click.ClickException("npm ci failed: install wrangler in the Worker's project (`npm i -D wrangler`)")


@click.group()
def workers() -> None:
    """Run unmodified Cloudflare Workers against this kumo."""


@workers.command()
@click.argument("config", required=False, type=click.Path(path_type=Path))
@click.option("--url", envvar="KUMO_URL", default="http://127.0.0.1:8787", show_default=True,
              help="The kumo serving the bindings.")
@click.option("--token", envvar=["KUMO_API_TOKEN", "CLOUDFLARE_API_TOKEN"], default=None,
              help="API token (needed when kumo has tokens configured).")
@click.option("--account", envvar=["KUMO_ACCOUNT_ID", "CLOUDFLARE_ACCOUNT_ID"], default="local", show_default=True,
              help="Account the bindings act for (its indexes, gateways and logs).")
@click.option("--env", "wrangler_env", default=None, help="wrangler environment (`env.<name>` in the config).")
@click.option("--port", type=int, default=8788, show_default=True, help="Port the Worker listens on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the Worker listens on.")
def dev(config, url, token, account, wrangler_env, port, host) -> None:
    """Start the Worker of CONFIG (default: ./wrangler.jsonc) in miniflare, its AI and Vectorize bindings on kumo."""
    config = _config(config).resolve()
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise click.ClickException("Node.js (node and npm, version 20 or later) is needed to run Workers")
    if not _has_wrangler(config.parent):
        ensure_launcher_packages(npm)
    command = [node, str(LAUNCHER_DIR / "dev.mjs"), "--config", str(config), "--kumo", url, "--account", account,
               "--port", str(port), "--host", host]
    if wrangler_env:
        command += ["--env", wrangler_env]
    env = {**os.environ, **({"KUMO_API_TOKEN": token} if token else {})}
    sys.exit(run_until_stopped(command, env))


def run_until_stopped(command: list[str], env: dict[str, str]) -> int:
    """Run the launcher; SIGTERM/SIGINT are passed on so it can stop workerd (its child) before exiting:
    leaving it running would keep the Worker's port and a workerd process behind."""
    child = subprocess.Popen(command, env=env)

    def forward(signum, frame) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    try:
        return child.wait()
    finally:
        if child.poll() is None:
            child.kill()
