"""Builds the ASGI app from Settings: one Platform, every product's routes, shared error handling."""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from kumo import __version__
from kumo.api.access_lines import AccessLines
from kumo.api.body import describe_validation_error
from kumo.api.error_shapes import ErrorShapes
from kumo.api.keep_alive import KeepAliveAfterError, mark_logged
from kumo.api.middleware import BodySizeLimit, StripTrailingSlash
from kumo.api.operator_pages import add_operator_pages
from kumo.api.redaction import quiet_secrets
from kumo.api.request_log import ACCESS_LOG, RequestLog
from kumo.api.threads import blocking
from kumo.config import Settings
from kumo.dashboard.routes import router as dashboard_router
from kumo.errors import InvalidRequest, KumoError
from kumo.metrics import MetricsMiddleware
from kumo.platform import Platform
from kumo.r2.routes import router as r2_router
from kumo.custom_models.routes import router as custom_models_router
from kumo.custom_models.scoring.routes import router as scoring_router
from kumo.r2.s3.front import R2Front
from kumo.ai.front import AiFront
from kumo.ai.routes import anthropic_error_response, openai_error_response, router as ai_router
from kumo.aisearch.routes import router as aisearch_router
from kumo.gateway.admin_routes import router as gateway_admin_router
from kumo.gateway.errors import gateway_error_response
from kumo.gateway.provider_keys_routes import router as gateway_provider_keys_router
from kumo.gateway.front import GatewayFront
from kumo.gateway.dynamic_routing_routes import router as gateway_dynamic_routing_router
from kumo.vectorize.front import VectorizeFront
from kumo.vectorize.routes import router as vectorize_router
from kumo.workers.front import BindingFront
from kumo.workers.preview_routes import router as workers_preview_router

log = logging.getLogger("kumo")


class KumoApp(FastAPI):
    """FastAPI with RequestLog outside Starlette's ServerErrorMiddleware, where `add_middleware` cannot reach:
    so a 500 still carries cf-ray and gets its access line, and the error handler's log knows the request id.
    KeepAliveAfterError sits there too: a 500 sent whole no longer closes the connection."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.access_lines = AccessLines(ACCESS_LOG)  # create_app's lifespan starts and closes its writer

    def build_middleware_stack(self):
        return RequestLog(KeepAliveAfterError(super().build_middleware_stack()), self.access_lines)


def error_shapes() -> ErrorShapes:
    """The products whose clients read errors in a shape other than Cloudflare's envelope."""
    shapes = ErrorShapes()
    shapes.register(r"/v1/", gateway_error_response)
    shapes.register(r"/client/v4/accounts/[^/]+/ai/v1/(v1/)?messages/?$", anthropic_error_response)
    shapes.register(r"/client/v4/accounts/[^/]+/ai/v1(/|$)", openai_error_response)
    return shapes


def create_app(settings: Settings | None = None, platform: Platform | None = None) -> FastAPI:
    settings = settings or Settings()
    quiet_secrets()
    platform = platform or Platform(settings)

    @asynccontextmanager
    async def lifespan(app: KumoApp):
        platform.start()
        await platform.start_async(app)
        # Start-up leaves ~80k long-lived objects; full collections over them paused every request in flight for
        # 56-93 ms (the gateway's p99 at 500 req/s). Freezing them keeps collections to a few ms.
        gc.collect()
        gc.freeze()
        app.access_lines.start()
        try:
            yield
        finally:
            try:
                await platform.stop_async()
                platform.close()
            finally:
                app.access_lines.close()

    # /docs and /openapi.json are served by add_operator_pages, behind a token when tokens are configured
    # FastAPI's own OpenTelemetry layer off: kumo exports spans where a gateway asks (gateway/controls/otel.py),
    # and that layer asked OpenTelemetry for its global providers on every request (~5 µs of the gateway's path)
    app = KumoApp(title="kumo", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None, telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.platform = platform
    app.state.api_tokens = settings.api_tokens  # what kumo.api's account routers check
    shapes = app.state.error_shapes = error_shapes()
    app.include_router(vectorize_router)
    app.include_router(ai_router)
    app.include_router(aisearch_router)
    app.include_router(gateway_admin_router)
    app.include_router(gateway_provider_keys_router)
    app.include_router(gateway_dynamic_routing_router)
    app.include_router(dashboard_router)
    app.include_router(workers_preview_router)
    app.include_router(r2_router)
    app.include_router(custom_models_router)
    app.include_router(scoring_router)

    async def metrics() -> bytes:
        await blocking(platform.gateway_logs.flush, 5)  # gateway tokens and costs are counted by the log writer
        return platform.metrics.exposition()

    add_operator_pages(app, settings, metrics)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict:
        return {"status": "ok", "version": __version__}

    @app.exception_handler(KumoError)
    async def kumo_error(request: Request, exc: KumoError) -> Response:
        return shapes.render(request.url.path, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return shapes.render(request.url.path, InvalidRequest(describe_validation_error(exc)))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            error = KumoError("No route for the URI", code=7003, status=404)
        elif exc.status_code == 405:
            error = KumoError(f"Method {request.method} not allowed for this path", code=7001, status=405)
        else:
            error = KumoError(str(exc.detail), code=10000 + exc.status_code, status=exc.status_code)
        return shapes.render(request.url.path, error)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        mark_logged(request.scope, exc)
        error = KumoError("Internal error in kumo; see the server log for details.", code=10002, status=500)
        return shapes.render(request.url.path, error)

    # added first, so innermost: the data planes skip FastAPI's routing, not the middleware added after
    app.add_middleware(AiFront, platform=platform)  # Workers AI's `/ai/run/{model}` (JSON answers); inside the
    app.add_middleware(GatewayFront, platform=platform)  # gateway's front, which takes gateway-bound AI calls first
    app.add_middleware(VectorizeFront, platform=platform)  # Vectorize's query/get_by_ids, likewise
    app.add_middleware(MetricsMiddleware, metrics=platform.metrics)
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes, shapes=shapes)
    app.add_middleware(StripTrailingSlash)
    # outermost: S3 bodies stream past the body limit, and a key may end in '/'
    app.add_middleware(R2Front, platform=platform)
    app.add_middleware(BindingFront, platform=platform)  # outermost: binding calls re-enter the stack below it
    return app
