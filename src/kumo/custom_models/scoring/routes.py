"""Batch scoring jobs over HTTP (kumo's own v4 paths, beside custom models'): submit a job, follow its
progress, list jobs, cancel one."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from kumo.api.body import read_json
from kumo.api.envelope import ok
from kumo.api.routing import account_router, grant_of
from kumo.custom_models.scoring.keys import r2_location
from kumo.custom_models.scoring.service import ScoringService
from kumo.errors import InvalidRequest
from kumo.platform import platform_of
from kumo.r2.credentials import check_scope

router = account_router("/ai/scoring-jobs")


def _service(request: Request) -> ScoringService:
    return platform_of(request).scoring


@router.post("")
async def submit(request: Request, account_id: str) -> JSONResponse:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.", code=10001)
    grant = grant_of(request)  # the token must be able to read the input and write the output
    if "input" in body:
        check_scope(grant, "GET", r2_location(body["input"], "input")[0])
    if "output" in body:
        check_scope(grant, "PUT", r2_location(body["output"], "output")[0])
    return ok(await _service(request).submit(account_id, body), status=201)


@router.get("")
async def list_jobs(request: Request, account_id: str) -> JSONResponse:
    raw = request.query_params.get("limit", "50")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4) or not 1 <= int(raw) <= 1000:  # "²" is a digit too
        raise InvalidRequest(f"limit {raw!r}: a whole number from 1 to 1000", code=10001)
    return ok(await _service(request).list(account_id, int(raw)))


@router.get("/{job_id}")
async def status(request: Request, account_id: str, job_id: str) -> JSONResponse:
    return ok(await _service(request).status(account_id, job_id))


@router.delete("/{job_id}")
async def cancel(request: Request, account_id: str, job_id: str) -> JSONResponse:
    return ok(await _service(request).cancel(account_id, job_id))
