"""The S3 wire at `/r2/<account_id>/<bucket>/<key...>` (path-style), served straight from ASGI.

It sits outside the shared middleware: object bodies stream past the JSON body-size limit, and a key may end
in '/', which the trailing-slash rule would change. Requests are routed by method, by whether a bucket and
a key are named, and by S3's sub-resource query parameters; a sub-resource R2 on kumo lacks is refused with
NotImplemented, never served as something else. Every error is S3's XML.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

from kumo.api.fronts import Template, joined_headers
from kumo.errors import ServiceUnavailable
from kumo.metrics import MetricsMiddleware
from kumo.r2 import errors
from kumo.r2.credentials import check_scope
from kumo.r2.s3 import buckets, multipart, objects
from kumo.r2.s3.auth import authorize, parse_query
from kumo.r2.s3.request import ClientGone, S3Request, respond_error

if TYPE_CHECKING:
    from kumo.platform import Platform

log = logging.getLogger("kumo.r2")
PREFIX = "/r2/"
UNSUPPORTED_SUBRESOURCES = (
    "acl", "cors", "lifecycle", "policy", "tagging", "versioning", "website", "encryption", "logging",
    "notification", "replication", "requestPayment", "object-lock", "retention", "legal-hold", "torrent",
    "accelerate", "analytics", "inventory", "metrics", "ownershipControls", "publicAccessBlock",
    "intelligent-tiering", "restore", "select", "attributes", "versions", "policyStatus",
)


def _decode(raw: bytes, what: str) -> str:
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise errors.InvalidURI(f"The {what} in the URI is not valid UTF-8.") from None


def route(req: S3Request):
    """The handler for a request, or an S3 error naming what is not supported."""
    method, q = req.method, req.q
    for name in UNSUPPORTED_SUBRESOURCES:
        if name in q:
            raise errors.NotImplementedYet(f"The ?{name} sub-resource is not supported by R2 on kumo.",
                                           SubResource=name)
    if not req.bucket:
        if method == "GET":
            return buckets.list_buckets
        raise errors.MethodNotAllowed("The specified method is not allowed against this resource.", Method=method)
    if not req.key:
        table = {
            "PUT": buckets.create_bucket,
            "HEAD": buckets.head_bucket,
            "DELETE": buckets.delete_bucket,
            "GET": (buckets.get_location if "location" in q else multipart.list_uploads if "uploads" in q
                    else buckets.list_objects),
            "POST": buckets.delete_objects if "delete" in q else None,
        }
    else:
        upload = "uploadId" in q
        table = {
            "PUT": multipart.upload_part if upload or "partNumber" in q else objects.put_object,
            "GET": multipart.list_parts if upload else objects.get_object,
            "HEAD": objects.head_object,
            "DELETE": multipart.abort_upload if upload else objects.delete_object,
            "POST": multipart.create_upload if "uploads" in q else multipart.complete_upload if upload else None,
        }
    handler = table.get(method)
    if handler is None:
        raise errors.MethodNotAllowed("The specified method is not allowed against this resource.", Method=method)
    if handler is multipart.upload_part and not upload:
        raise errors.InvalidArgument("partNumber needs an uploadId.", ArgumentName="uploadId")
    return handler


SERVICE = Template("/r2/{account_id}")
BUCKET = Template("/r2/{account_id}/{bucket}")
OBJECT = Template("/r2/{account_id}/{bucket}/{key:path}")


class R2Front:
    def __init__(self, app: ASGIApp, platform: Platform):
        self.app = app
        self.platform = platform
        self._measured = MetricsMiddleware(self._serve, platform.metrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        parts = scope["path"][len(PREFIX):].split("/", 2)
        scope["route"] = OBJECT if len(parts) == 3 and parts[2] else BUCKET if len(parts) >= 2 and parts[1] \
            else SERVICE
        await self._measured(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        raw = (scope.get("raw_path") or scope["path"].encode())[len(PREFIX):]
        account_raw, _, tail = raw.partition(b"/")
        bucket_raw, _, key_raw = tail.partition(b"/")
        headers = joined_headers(scope)
        req = S3Request(scope, receive, tracking_send, self.platform.r2, "", "", "", [], headers)
        try:
            req.account = _decode(account_raw, "account id")
            req.bucket = _decode(bucket_raw, "bucket name")
            req.key = _decode(key_raw, "key")
            req.query = parse_query(scope.get("query_string", b""))
            if not req.account:
                raise errors.InvalidRequest("The path must begin with /r2/<account_id>/.")
            auth = authorize(self.platform.settings.api_tokens, scope, headers, req.query, req.account)
            check_scope(auth.grant, scope["method"], req.bucket)
            owner = headers.get("x-amz-expected-bucket-owner")
            if owner is not None and owner != req.account:
                raise errors.AccessDenied("Access Denied: the bucket is not owned by the expected account.")
            await route(req)(req, auth)
        except ClientGone:
            return
        except errors.R2Error as error:
            if not started:
                await respond_error(req, error)
        except ServiceUnavailable as error:  # PostgreSQL unreachable (scaled out): S3's 503, retried by clients
            if not started:
                await respond_error(req, errors.StorageUnavailable(str(error)))
        except Exception:
            log.exception("unexpected error in the S3 API on %s %s", scope["method"], scope["path"])
            if not started:
                await respond_error(req, errors.InternalError("We encountered an internal error. Please try again."))
