"""Cloudflare's REST API for R2 buckets: `/client/v4/accounts/{account_id}/r2/buckets[/{bucket_name}]`
(the cloudflare SDK's `client.r2.buckets`), on the same state as the S3 wire."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from kumo.api.body import read_json
from kumo.api.envelope import ok
from kumo.api.routing import account_router, grant_of
from kumo.errors import InvalidRequest
from kumo.r2.credentials import check_scope, visible_buckets
from kumo.r2.service import R2Service
from kumo.r2.store import BucketInfo
from kumo.platform import platform_of

router = account_router("/r2/buckets")
JURISDICTIONS = ("default",)  # one place holds kumo's buckets
MAX_PER_PAGE = 1000


def _service(request: Request) -> R2Service:
    return platform_of(request).r2


def _jurisdiction(request: Request) -> str:
    value = request.headers.get("cf-r2-jurisdiction", "default")
    if value not in JURISDICTIONS:
        raise InvalidRequest(f"cf-r2-jurisdiction {value!r}: kumo keeps every bucket in the default jurisdiction.",
                             code=10001)
    return value


def _bucket(bucket: BucketInfo) -> dict:
    out = {"name": bucket.name, "creation_date": bucket.created, "storage_class": bucket.storage_class,
           "jurisdiction": "default"}
    if bucket.location != "auto":
        out["location"] = bucket.location
    return out


@router.post("")
async def create_bucket(request: Request, account_id: str) -> JSONResponse:
    _jurisdiction(request)
    check_scope(grant_of(request), "POST", "")
    body = await read_json(request)
    if not isinstance(body, dict):
        raise InvalidRequest("Expected a JSON object: {name, locationHint?, storageClass?}.")
    unknown = set(body) - {"name", "locationHint", "storageClass"}
    if unknown:
        raise InvalidRequest(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    bucket = await _service(request).create_bucket(account_id, body.get("name"), body.get("locationHint"),
                                                   body.get("storageClass"))
    return ok(_bucket(bucket))


@router.get("")
async def list_buckets(request: Request, account_id: str) -> JSONResponse:
    _jurisdiction(request)
    q = request.query_params
    unknown = set(q) - {"cursor", "direction", "name_contains", "order", "per_page", "start_after"}
    if unknown:
        raise InvalidRequest(f"Unknown query parameter(s): {', '.join(sorted(unknown))}.")
    direction = q.get("direction", "asc")
    if direction not in ("asc", "desc") or q.get("order", "name") != "name":
        raise InvalidRequest("order must be 'name' and direction 'asc' or 'desc'.")
    try:
        per_page = int(float(q.get("per_page", "20")))
    except ValueError:
        raise InvalidRequest("per_page must be a number.") from None
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidRequest(f"per_page must be between 1 and {MAX_PER_PAGE}.")
    after = q.get("start_after")
    if q.get("cursor"):
        try:
            after = base64.urlsafe_b64decode(q["cursor"].encode()).decode()
        except (binascii.Error, ValueError):
            raise InvalidRequest("cursor is not one kumo gave.") from None
    buckets = visible_buckets(grant_of(request), await _service(request).list_buckets(account_id))
    if direction == "desc":
        buckets.reverse()
    if q.get("name_contains"):
        buckets = [b for b in buckets if q["name_contains"] in b.name]
    if after:
        buckets = [b for b in buckets if (b.name > after if direction == "asc" else b.name < after)]
    page = buckets[:per_page]
    info: dict[str, Any] = {"per_page": per_page}
    if len(buckets) > per_page:
        info["cursor"] = base64.urlsafe_b64encode(page[-1].name.encode()).decode()
    return ok({"buckets": [_bucket(b) for b in page]}, result_info=info)


@router.get("/{bucket_name}")
async def get_bucket(request: Request, account_id: str, bucket_name: str) -> JSONResponse:
    _jurisdiction(request)
    check_scope(grant_of(request), "GET", bucket_name)
    return ok(_bucket(await _service(request).bucket(account_id, bucket_name)))


@router.delete("/{bucket_name}")
async def delete_bucket(request: Request, account_id: str, bucket_name: str) -> JSONResponse:
    _jurisdiction(request)
    check_scope(grant_of(request), "DELETE", bucket_name)
    await _service(request).delete_bucket(account_id, bucket_name)
    return ok({})
