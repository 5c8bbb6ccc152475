"""The dashboard at `/dashboard`: sign-in and sign-out, the account switcher, the overview, static files, and
each product's pages (kumo.dashboard.pages). Pages are HTML rendered here from the products' services."""

from __future__ import annotations

import hmac
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from kumo.api.threads import blocking
from kumo.dashboard.guard import DashboardRoute, Visitor, checked_post, current_session, keys_of, same_origin, \
    signed_in
from kumo.dashboard.pages import PAGES
from kumo.dashboard.session import COOKIE, DEV, LIFETIME
from kumo.dashboard.templating import render
from kumo.platform import platform_of

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute)
STATIC = Path(__file__).with_name("static")
STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}


@router.get("/static/{name}", include_in_schema=False)
async def static(name: str) -> Response:
    path = STATIC / name
    if "/" in name or path.suffix not in STATIC_TYPES or not path.is_file():
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(path.read_bytes(), media_type=STATIC_TYPES[path.suffix],
                    headers={"cache-control": "public, max-age=3600", "x-content-type-options": "nosniff"})


def _safe_next(target: str | None) -> str | None:
    """Only a path on this dashboard: never an address elsewhere (an open redirect)."""
    if target and target.startswith("/dashboard/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


@router.get("/sign-in", include_in_schema=False)
async def sign_in_page(request: Request, next: str | None = None) -> Response:
    dev = not platform_of(request).settings.api_tokens
    return render(request, "sign_in.html", None, dev=dev, next=_safe_next(next) or "", errors={}, account="")


@router.post("/sign-in", include_in_schema=False)
async def sign_in(request: Request) -> Response:
    settings = platform_of(request).settings
    dev = not settings.api_tokens
    form = await request.form()
    token, account = str(form.get("token") or "").strip(), str(form.get("account") or "").strip()
    target = _safe_next(str(form.get("next") or ""))
    errors: dict[str, str] = {}
    if not same_origin(request):
        errors["form"] = "Cross-site sign-in refused: use the dashboard's own sign-in page."
        return render(request, "sign_in.html", None, status=403, dev=dev, next=target or "", errors=errors,
                      account=account)
    keys = keys_of(request)
    grant_id = DEV if dev else None
    grant = None
    if not dev:
        for candidate in settings.api_tokens:
            if token and hmac.compare_digest(candidate.token.encode(), token.encode()):
                grant, grant_id = candidate, keys.fingerprint(candidate.token)
                break
        if grant is None:
            errors["token"] = "Unknown API token." if token else "Enter a kumo API token."
        elif not account and grant.accounts:
            account = grant.accounts[0]
    if not account:
        errors.setdefault("account", "Enter the account id to open.")
    elif grant is not None and not grant.allows(account):
        errors["account"] = f"This token may not act on account {account}; it may on: {', '.join(grant.accounts)}."
    if errors or grant_id is None:
        return render(request, "sign_in.html", None, status=401, dev=dev, next=target or "", errors=errors,
                      account=account)
    cookie, _ = keys.issue(grant_id)
    response = RedirectResponse(target or f"/dashboard/{account}", status_code=303)
    response.set_cookie(COOKIE, cookie, max_age=LIFETIME, path="/dashboard", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


@router.post("/{account_id}/sign-out", include_in_schema=False)
async def sign_out(request: Request, visitor: Visitor = Depends(checked_post)) -> Response:
    response = RedirectResponse("/dashboard/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/dashboard", httponly=True, samesite="strict")
    return response


@router.get("", include_in_schema=False)
async def home(request: Request, account: str = "") -> Response:
    """Signed in: the account asked for (`?account=`), the token's first account, or a field to name one."""
    found = current_session(request)
    if found is None:
        return RedirectResponse("/dashboard/sign-in", status_code=303)
    grant = found[1]
    account = account.strip() or (grant.accounts[0] if grant.accounts else "")
    if account and "/" not in account and grant.allows(account):
        return RedirectResponse(f"/dashboard/{account}", status_code=303)
    return render(request, "choose_account.html", None, account=account, refused=bool(account))


@router.get("/{account_id}/switch", include_in_schema=False)
async def switch(request: Request, account: str = "", visitor: Visitor = Depends(signed_in)) -> Response:
    account = account.strip()
    if not account or not visitor.grant.allows(account) or "/" in account:
        return render(request, "error.html", visitor, status=403, code=403, signed_in=True,
                      message=f"This token may not act on account {account!r}.")
    return RedirectResponse(f"/dashboard/{account}", status_code=303)


@router.get("/{account_id}", include_in_schema=False)
async def overview(request: Request, account_id: str, visitor: Visitor = Depends(signed_in)) -> Response:
    platform = platform_of(request)
    gateways, info = await blocking(platform.gateways.list, account_id, 1, 100, None)
    indexes = await blocking(platform.vectorize.list_indexes, account_id)
    instances = await blocking(platform.aisearch.list_instances, account_id, None)
    counts = {"ai-gateway": info["total_count"], "workers-ai": len(list(platform.ai.catalog)),
              "vectorize": len(indexes), "ai-search": len(instances)}
    return render(request, "overview.html", visitor, counts=counts)


def include_pages(parent: APIRouter) -> None:
    for page in PAGES:
        parent.include_router(page.router)


include_pages(router)
