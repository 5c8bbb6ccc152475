"""The server's own pages: `/metrics` (Prometheus), `/openapi.json` and `/docs` (the API's schema, Swagger UI).

Without API tokens (dev mode, loopback) they are open. With tokens they need one, as `Authorization: Bearer` or
`?token=` (a browser opening /docs; the access log redacts it): any configured token for the docs, a token not
limited to accounts for the metrics (they count every account's traffic). `public_metrics` / `public_docs`
open them again, e.g. for a Prometheus inside a private network."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response

from kumo.api.auth import authorize_operator
from kumo.config import Settings


def add_operator_pages(app: FastAPI, settings: Settings, metrics: Callable[[], Awaitable[bytes]]) -> None:
    """`app` is built with `docs_url=None, openapi_url=None`: these routes serve both, behind the check."""

    def check(request: Request, public: bool, every_account: bool) -> str | None:
        """The token given as `?token=` (to pass on to the page's own requests), after checking the request."""
        token = request.query_params.get("token")
        if public or not settings.api_tokens:
            return None
        headers: Mapping[str, str] = request.headers
        if token and not headers.get("authorization"):
            headers = {"authorization": f"Bearer {token}"}
        authorize_operator(settings.api_tokens, headers, every_account=every_account)
        return token

    @app.get("/metrics", include_in_schema=False)
    async def metrics_page(request: Request) -> Response:
        check(request, settings.public_metrics, every_account=True)
        return Response(await metrics(), media_type="text/plain; version=0.0.4")

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_schema(request: Request) -> JSONResponse:
        check(request, settings.public_docs, every_account=False)
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def docs_page(request: Request) -> HTMLResponse:
        token = check(request, settings.public_docs, every_account=False)
        schema = "/openapi.json" + (f"?token={quote(token, safe='')}" if token else "")
        return get_swagger_ui_html(openapi_url=schema, title=f"{app.title} - API")
