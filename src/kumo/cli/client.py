"""How CLI commands reach kumo: over HTTP to a running server, or in process (`--local`) through the
very same ASGI app, so both paths behave identically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import httpx



class ApiClient:
    def __init__(self, http: Any, account: str, closer=None):
        self.http = http
        self.account = account
        self._closer = closer

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"/client/v4/accounts/{self.account}{path}"
        try:
            response = self.http.request(method, url, **kwargs)
        except httpx.ConnectError:
            raise click.ClickException(
                f"cannot reach kumo at {self.http.base_url}: start it with `kumo serve` (or use --local)"
            ) from None
        try:
            body = response.json()
        except ValueError:
            raise click.ClickException(f"HTTP {response.status_code}: {response.text[:200]}") from None
        if response.status_code >= 400 or not body.get("success", False):
            errors = body.get("errors") or [{"code": response.status_code, "message": response.text}]
            raise click.ClickException("; ".join(f"[{e.get('code')}] {e.get('message')}" for e in errors))
        return body.get("result")

    def close(self) -> None:
        if self._closer:
            self._closer()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_client(url: str | None, token: str | None, account: str, local: bool, data_dir: Path | None) -> ApiClient:
    if local:
        import warnings

        with warnings.catch_warnings():  # starlette nudges towards httpx2; httpx works as well here
            warnings.simplefilter("ignore")
            from starlette.testclient import TestClient

        from kumo.app import create_app
        from kumo.config import Settings

        app = create_app(Settings(data_dir=data_dir) if data_dir else Settings())
        in_process = TestClient(app, base_url="http://kumo.local", raise_server_exceptions=False)
        in_process.__enter__()  # runs the app's lifespan: services start, and close on exit
        in_process.headers["authorization"] = "Bearer local"
        return ApiClient(in_process, account, lambda: in_process.__exit__(None, None, None))
    headers = {"authorization": f"Bearer {token or 'local'}"}
    client = httpx.Client(base_url=url or "http://127.0.0.1:8787", headers=headers, timeout=300)
    return ApiClient(client, account, client.close)


def client_options(fn):
    """The options every command that talks to kumo accepts."""
    options = [
        click.option("--url", envvar="KUMO_URL", default="http://127.0.0.1:8787", show_default=True,
                     help="kumo server to talk to."),
        click.option("--token", envvar=["KUMO_API_TOKEN", "CLOUDFLARE_API_TOKEN"], default=None,
                     help="API token (needed when the server has tokens configured)."),
        click.option("--account", envvar=["KUMO_ACCOUNT_ID", "CLOUDFLARE_ACCOUNT_ID"], default="local",
                     show_default=True, help="Account id the resources belong to."),
        click.option("--local", is_flag=True, help="Work in process on --data-dir instead of a server."),
        click.option("--data-dir", type=click.Path(path_type=Path), default=None,
                     help="Data directory for --local [default: ./.kumo]."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def make_client(kwargs: dict) -> ApiClient:
    return open_client(
        kwargs.pop("url"), kwargs.pop("token"), kwargs.pop("account"), kwargs.pop("local"), kwargs.pop("data_dir")
    )


