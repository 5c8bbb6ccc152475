"""Errors every product raises; the HTTP layer turns them into Cloudflare's envelope.

    KumoError                 status + Cloudflare error code + a message a person can act on
    ├── InvalidRequest        400: the request is malformed or breaks a rule
    ├── AuthenticationError   401: no credentials, or credentials we do not know
    ├── PermissionDenied      403: credentials valid, but not for this account
    ├── NotFound              404: the resource or route does not exist
    ├── PayloadTooLarge       413: the body is over the limit
    └── ServiceUnavailable    503: a backend needed for this call is not there

Services raise these without knowing about HTTP beyond the status they imply.
"""

from __future__ import annotations


class KumoError(Exception):
    status = 500
    code = 1000

    def __init__(self, message: str, *, code: int | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class InvalidRequest(KumoError):
    status = 400
    code = 10001


class AuthenticationError(KumoError):
    status = 401
    code = 10000


class PermissionDenied(KumoError):
    status = 403
    code = 10000


class NotFound(KumoError):
    status = 404
    code = 7003


class PayloadTooLarge(KumoError):
    status = 413
    code = 10013


class ServiceUnavailable(KumoError):
    status = 503
    code = 10002
