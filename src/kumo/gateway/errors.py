"""Gateway-level errors: Cloudflare's `error` array (plus `errors`, which the v4 clients read) with
`name: AiGatewayError`. Provider errors are passed through untouched; these are the gateway's own."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from kumo.errors import KumoError

GATEWAY_NOT_FOUND = 2001  # HTTP 400
RATE_LIMITED = 2003  # HTTP 429
UNAUTHORIZED = 2009  # HTTP 401
UNKNOWN_PROVIDER = 2005  # kumo's; Cloudflare's code for this is undocumented
UPSTREAM_UNREACHABLE = 2006  # kumo's: network error talking to the provider (502)
UPSTREAM_TIMEOUT = 2007  # kumo's: no first byte within cf-aig-request-timeout (504)
BAD_REQUEST = 2008  # kumo's: a malformed gateway request (universal steps, headers)


class GatewayError(KumoError):
    def __init__(self, status: int, code: int, message: str):
        super().__init__(message, code=code, status=status)


def gateway_error_response(error: KumoError, headers: dict[str, str] | None = None) -> JSONResponse:
    item = {"code": error.code, "message": error.message}
    body = {
        "success": False, "result": [], "messages": [], "error": [item], "errors": [item],
        "name": "AiGatewayError", "httpCode": error.status, "internalCode": error.code, "message": error.message,
        "description": error.message,  # what the Workers AI binding prints: `AiGatewayError: <code>: <description>`
    }
    extra = getattr(error, "headers", None)  # what a control says about the refusal (cf-aig-dlp)
    return JSONResponse(body, status_code=error.status, headers={**extra, **(headers or {})} if extra else headers)
