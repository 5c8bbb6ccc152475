"""Who may see a dashboard page: a signed-in session (cookie) whose token may act on the account in the URL.
Every POST also carries the session's CSRF token (form field `csrf` or header `x-csrf-token`) and comes from
this origin; the cookie is SameSite=Strict, so a cross-site form arrives without it anyway.

Page handlers take `Depends(signed_in)` (reads) or `Depends(checked_post)` (writes) and get a `Visitor`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute

from kumo.config import TokenGrant
from kumo.dashboard.session import COOKIE, Session, SessionKeys
from kumo.errors import KumoError
from kumo.platform import platform_of


class SignInRequired(Exception):
    pass


class Refused(Exception):
    def __init__(self, message: str, status: int = 403):
        super().__init__(message)
        self.message, self.status = message, status


@dataclass
class Visitor:
    session: Session
    grant: TokenGrant
    account: str

    @property
    def csrf(self) -> str:
        return self.session.csrf

    @property
    def accounts(self) -> list[str]:
        """Accounts to offer in the switcher (a token for every account offers a free field instead)."""
        return list(self.grant.accounts)


def keys_of(request: Request) -> SessionKeys:
    """The app's session keys, loaded once per app (kept on app.state, not in a module global)."""
    keys = getattr(request.app.state, "dashboard_keys", None)
    if keys is None:
        settings = platform_of(request).settings
        keys = request.app.state.dashboard_keys = SessionKeys.load(settings.dashboard_secret, settings.data_dir)
    return keys


def same_origin(request: Request) -> bool:
    """The request names this server as its origin (Origin, else Referer); a request naming neither is refused."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if not claimed or claimed == "null":
        return False
    # the host only: behind a TLS-terminating proxy the scheme kumo sees is not the browser's
    return urlsplit(claimed).netloc == request.headers.get("host", "")


def current_session(request: Request) -> tuple[Session, TokenGrant] | None:
    keys = keys_of(request)
    session = keys.read(request.cookies.get(COOKIE))
    if session is None:
        return None
    grant = keys.grant_of(session, platform_of(request).settings.api_tokens)
    return (session, grant) if grant is not None else None


async def signed_in(request: Request, account_id: str) -> Visitor:
    found = current_session(request)
    if found is None:
        if request.method != "GET":
            raise Refused("Not signed in: sign in to the dashboard first.", 403)
        raise SignInRequired()
    session, grant = found
    if not grant.allows(account_id):
        raise Refused(f"This API token may not act on account {account_id}.", 403)
    return Visitor(session, grant, account_id)


async def checked_post(request: Request, account_id: str) -> Visitor:
    if not same_origin(request):
        raise Refused("Cross-site request refused: this form must be sent from the dashboard itself.", 403)
    visitor = await signed_in(request, account_id)
    presented: object = request.headers.get("x-csrf-token")
    if presented is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        presented = (await request.form()).get("csrf")
    if not keys_of(request).check_csrf(visitor.session, presented if isinstance(presented, str) else None):
        raise Refused("The form's CSRF token is missing or stale: reload the page and try again.", 403)
    return visitor


def render_error(request: Request, message: str, status: int) -> Response:
    from kumo.dashboard.templating import render  # templating imports the page registry, which imports this

    found = current_session(request)
    account = request.path_params.get("account_id")
    visitor = Visitor(found[0], found[1], account) if found and account and found[1].allows(account) else None
    return with_security_headers(render(request, "error.html", visitor, status=status, code=status, message=message,
                                        signed_in=found is not None))


class DashboardRoute(APIRoute):
    """Turns the guard's outcomes into pages: sign-in redirects for reads, 403 pages for refused writes."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/dashboard/sign-in?next={quote(target, safe='')}", status_code=303)
            except Refused as exc:
                return render_error(request, exc.message, exc.status)
            except KumoError as exc:  # a product refused: say so on a page, not in an API envelope
                return render_error(request, exc.message, exc.status)
            return with_security_headers(response)

        return guarded


def with_security_headers(response: Response) -> Response:
    if isinstance(response, HTMLResponse) or response.media_type == "text/html":
        response.headers.setdefault(
            "content-security-policy",
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
        response.headers.setdefault("x-frame-options", "DENY")
        response.headers.setdefault("referrer-policy", "same-origin")
    response.headers.setdefault("x-content-type-options", "nosniff")
    response.headers.setdefault("cache-control", "no-store")
    return response
