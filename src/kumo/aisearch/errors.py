"""AI Search's errors. Cloudflare does not document AI Search's own error codes, so these are ours (7xxx
for missing resources as the rest of the v4 API does, 10001 for a bad request); messages say what to do."""

from __future__ import annotations

from kumo.errors import InvalidRequest, NotFound

NAMESPACE_NOT_FOUND = 7010
INSTANCE_NOT_FOUND = 7011
ITEM_NOT_FOUND = 7012
JOB_NOT_FOUND = 7013
INVALID_CONFIG = 10001
DUPLICATE = 10002
UNSUPPORTED_FILE = 10003
BAD_SEARCH = 10004


def namespace_not_found(name: str) -> NotFound:
    return NotFound(f"AI Search namespace {name!r} not found in this account", code=NAMESPACE_NOT_FOUND)


def instance_not_found(namespace: str, instance_id: str) -> NotFound:
    where = "" if namespace == "default" else f" in namespace {namespace!r}"
    return NotFound(f"AI Search instance {instance_id!r} not found{where}", code=INSTANCE_NOT_FOUND)


def item_not_found(item_id: str) -> NotFound:
    return NotFound(f"item {item_id!r} not found in this AI Search instance", code=ITEM_NOT_FOUND)


def job_not_found(job_id: str) -> NotFound:
    return NotFound(f"job {job_id!r} not found in this AI Search instance", code=JOB_NOT_FOUND)


def bad_config(message: str) -> InvalidRequest:
    return InvalidRequest(message, code=INVALID_CONFIG)


def bad_search(message: str) -> InvalidRequest:
    return InvalidRequest(message, code=BAD_SEARCH)


class UnreadableDocument(Exception):
    """A document whose text cannot be extracted. Not an HTTP error: the item is marked `error` with this
    message and the failure is written to the item's logs."""

    def __init__(self, message: str, kind: str = "conversion_error"):
        super().__init__(message)
        self.message = message
        self.kind = kind
