"""`kumo serve`: one process holding every product."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Literal

import click

from kumo.cli.settings import settings_or_exit
from kumo.config import Settings
from kumo.log_format import FORMATS, configure_logging


@click.command()
@click.option("--host", default=None, help="Address to listen on [default: 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [default: 8787].")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="Where state lives [default: ./.kumo].")
@click.option("--insecure", is_flag=True, default=None, help="Allow a non-loopback address without API tokens.")
@click.option("--log-level", default=None, type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--log-format", default=None, type=click.Choice(FORMATS),
              help="text (readable) or json (one object per line) [default: text].")
@click.option("--drain-timeout", type=float, default=None,
              help="On SIGTERM, seconds to let requests in flight finish [default: 30].")
@click.option("--strict-models", is_flag=True, default=None,
              help="No stand-ins: a model whose own weights are absent answers an error.")
@click.option("--workers-dev-port", type=int, default=None,
              help="Also listen here with TLS as *.kumo.workers.dev, for plain `wrangler dev` (443; see README).")
def serve(host, port, data_dir, insecure, log_level, log_format, drain_timeout, strict_models,
          workers_dev_port) -> None:
    """Start kumo's HTTP server (Workers AI, Vectorize, AI Gateway APIs)."""
    from kumo.app import create_app
    from kumo.cli.http_server import Server

    overrides = {k: v for k, v in dict(host=host, port=port, data_dir=data_dir, insecure=insecure,
                                       log_level=log_level, log_format=log_format, drain_timeout=drain_timeout,
                                       strict_models=strict_models, workers_dev_port=workers_dev_port).items()
                 if v is not None}
    settings = settings_or_exit(**overrides)
    if not settings.is_loopback and not settings.auth_required:
        if not settings.insecure:
            click.echo(
                f"Refusing to listen on {settings.host} with no API tokens configured: anyone who can reach it "
                "could read and write your data. Set KUMO_API_TOKENS (or api_tokens in kumo.toml), or pass "
                "--insecure if you really mean it.",
                err=True,
            )
            sys.exit(2)
        click.echo(f"WARNING: listening on {settings.host} without API tokens (--insecure).", err=True)
    configure_logging(settings.log_format, settings.log_level)
    mode = "tokens required" if settings.auth_required else "dev mode: any token accepted"
    banner = f"kumo on http://{settings.host}:{settings.port} ({mode}), data in {settings.data_dir.resolve()}"
    if settings.log_format == "json":
        logging.getLogger("kumo").info(banner)  # every line of a JSON log is JSON
    else:
        click.echo(banner)
    # kumo writes the access lines itself (kumo.api.request_log); uvicorn's loggers go to our root handler.
    # SIGTERM: uvicorn stops accepting, waits up to drain_timeout for requests in flight (streams too), then
    # runs the lifespan's shutdown, which flushes gateway logs.
    config = _uvicorn_config(create_app(settings), settings, settings.port)
    # One BLAS thread in the server: Vectorize's products are small, and OpenBLAS's second thread spins on the
    # core the event loop and the graph search need (3.4 ms of CPU per exact query of 2,000 vectors instead of
    # 0.16 ms); concurrent requests use the cores instead. Not in kumo.Env: that process is the user's.
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
    _exit_zero_after_sigterm()
    if settings.workers_dev_port:
        _serve_with_workers_dev_tls(config, settings)
    else:
        Server(config).run()


def _uvicorn_config(app, settings: Settings, port: int, lifespan: Literal["auto", "on", "off"] = "auto",
                    ssl_certfile: str | None = None, ssl_keyfile: str | None = None):
    import uvicorn

    return uvicorn.Config(app, host=settings.host, port=port, log_config=None, log_level=settings.log_level,
                          access_log=False, lifespan=lifespan, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile,
                          # uvicorn annotates an int, and waits with asyncio.wait_for: fractions of a second work
                          timeout_graceful_shutdown=settings.drain_timeout)  # type: ignore[arg-type]


def _serve_with_workers_dev_tls(config, settings: Settings) -> None:
    """The app on its usual address, and on `workers_dev_port` with TLS as *.kumo.workers.dev: the same app (one
    lifespan, run by the first), so `wrangler dev`'s binding traffic reaches the very same services."""
    import asyncio

    from kumo.cli.http_server import Server
    from kumo.workers.tls import ensure_workers_dev_tls

    assert settings.workers_dev_port is not None  # called when it is set
    tls = ensure_workers_dev_tls(settings.data_dir)
    tls_config = _uvicorn_config(config.app, settings, settings.workers_dev_port, lifespan="off",
                                 ssl_certfile=str(tls.cert_file), ssl_keyfile=str(tls.key_file))
    click.echo(f"and https://<worker>.kumo.workers.dev:{settings.workers_dev_port} for `wrangler dev` "
               f"(NODE_EXTRA_CA_CERTS={tls.ca_file.resolve()})")

    async def both() -> None:
        main, extra = Server(config), Server(tls_config)
        first = asyncio.ensure_future(main.serve())
        while not main.started and not first.done():  # the platform starts before any binding call arrives
            await asyncio.sleep(0.05)
        tasks = [first, asyncio.ensure_future(extra.serve())] if not first.done() else [first]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        main.stop()  # one stopping (a signal, a failed bind) stops both
        extra.stop()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(both())


def _exit_zero_after_sigterm() -> None:
    """uvicorn re-raises the signal it caught once it has shut down, with the handler it found installed:
    with Python's default, a clean drain would end as "killed by SIGTERM" (exit -15). A no-op handler here
    lets `serve` return, so a drained stop exits 0 as service managers expect."""
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
