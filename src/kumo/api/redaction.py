"""Secrets never reach the log: Google takes `?key=<API key>`, S3 presigned URLs carry signatures, a browser
opening /docs sends `?token=`. The access line is redacted where it is written (kumo.api.request_log), and the
server's own loggers get the same filter from `create_app`, however the app is served."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

_SECRET_QUERY = re.compile(r"((?:^|[?&])(?:key|api_key|api-key|token|access_token|sig|signature|x-amz-signature|"
                           r"x-amz-security-token)=)[^&\s\"]*", re.I)
# the access line (kumo.access) is redacted as it is written; uvicorn.error logs refused WebSockets with their query
SERVER_LOGGERS = ("uvicorn.access", "uvicorn.error")


def redact(value: Any) -> Any:
    """A string with the values of secret-named query parameters replaced; anything else as it is."""
    if isinstance(value, str) and "=" in value:  # the check spares the regex on most values (µs per access line)
        return _SECRET_QUERY.sub(r"\1[redacted]", value)
    return value


class RedactQuery(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, Mapping):  # kumo's access line: one mapping, written as fields in JSON
            record.args = {k: redact(v) for k, v in record.args.items()}
        elif record.args:
            record.args = tuple(redact(a) for a in record.args)
        return True


def quiet_secrets() -> None:
    """Redact the server loggers' lines (once, however often an app is made), and keep httpx's INFO lines, which
    hold full upstream URLs, out of the log."""
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactQuery) for f in logger.filters):
            logger.addFilter(RedactQuery())
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
