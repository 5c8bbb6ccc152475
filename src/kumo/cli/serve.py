"""`kumo serve`: one process holding every product."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

import click

from kumo.config import Settings


_SECRET_QUERY = re.compile(r"((?:^|[?&])(?:key|api_key|api-key|token|access_token|sig|signature)=)[^&\s\"]*", re.I)


class RedactQuery(logging.Filter):
    """Google accepts `?key=<API key>`: never let a secret in a query string reach the access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(_SECRET_QUERY.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                                for a in record.args)
        return True


def quiet_secrets() -> None:
    logging.getLogger("uvicorn.access").addFilter(RedactQuery())
    logging.getLogger("httpx").setLevel(logging.WARNING)  # httpx logs full upstream URLs at INFO
    logging.getLogger("httpcore").setLevel(logging.WARNING)


@click.command()
@click.option("--host", default=None, help="Address to listen on [default: 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [default: 8787].")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="Where state lives [default: ./.kumo].")
@click.option("--insecure", is_flag=True, default=None, help="Allow a non-loopback address without API tokens.")
@click.option("--log-level", default=None, type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--strict-models", is_flag=True, default=None,
              help="No stand-ins: a model whose own weights are absent answers an error.")
def serve(host, port, data_dir, insecure, log_level, strict_models) -> None:
    """Start kumo's HTTP server (Workers AI, Vectorize, AI Gateway APIs)."""
    import uvicorn

    from kumo.app import create_app

    overrides = {k: v for k, v in dict(host=host, port=port, data_dir=data_dir, insecure=insecure,
                                       log_level=log_level, strict_models=strict_models).items() if v is not None}
    settings = Settings(**overrides)
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
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    mode = "tokens required" if settings.auth_required else "dev mode: any token accepted"
    click.echo(f"kumo on http://{settings.host}:{settings.port} ({mode}), data in {settings.data_dir.resolve()}")
    config = uvicorn.Config(create_app(settings), host=settings.host, port=settings.port,
                            log_level=settings.log_level, timeout_graceful_shutdown=10)
    quiet_secrets()  # after uvicorn has configured its loggers
    uvicorn.Server(config).run()
