"""How `kumo serve` writes its log lines: readable text (the default) or one JSON object per line
(`--log-format json`), both tagged with the id of the request being served, if any.

A record whose `args` is one mapping (the access line) is written as those fields in JSON; in text its
message is formatted from them as usual, so one record serves both formats.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import orjson

from kumo.api.request_id import REQUEST_ID

FORMATS = ("text", "json")


class RequestIdStamp(logging.Filter):
    """Copies the current request id onto the record while still in the request's context (a handler that
    formats later, or in another thread, would no longer see it). A record that carries its own (an access line,
    written by kumo.api.access_lines' thread) keeps it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


class TextFormatter(logging.Formatter):
    """`2026-01-02 03:04:05,678 INFO kumo.access [9f86d081884c7d65]: ...`; no brackets outside a request."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        tag = f" [{request_id}]" if request_id else ""
        return f"{record.asctime} {record.levelname} {record.name}{tag}: {record.message}"


class JsonFormatter(logging.Formatter):
    """`{"ts": "2026-01-02T03:04:05.678Z", "level": "INFO", "logger": ..., "request_id": ..., ...}`."""

    def __init__(self) -> None:
        super().__init__()
        self._second: tuple[int, str] = (-1, "")  # one tuple, so threads never see half an update

    def format(self, record: logging.LogRecord) -> str:
        out: dict = {"ts": self._timestamp(record.created), "level": record.levelname, "logger": record.name}
        request_id = getattr(record, "request_id", None)
        if request_id:
            out["request_id"] = request_id
        if isinstance(record.args, Mapping):
            out.update(record.args)
        else:
            out["message"] = record.getMessage()
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc_info"] = record.exc_text
        if record.stack_info:
            out["stack_info"] = self.formatStack(record.stack_info)
        return orjson.dumps(out, default=str).decode()

    def _timestamp(self, created: float) -> str:
        second = int(created)
        cached_second, prefix = self._second
        if second != cached_second:  # strftime once a second, not once a line
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, prefix)
        return f"{prefix}.{int((created - second) * 1000):03d}Z"


def configure_logging(log_format: str, level: str) -> logging.Handler:
    """One stderr handler on the root logger; uvicorn's loggers propagate to it (run uvicorn with
    `log_config=None` so it adds none of its own)."""
    # Neither format names a source line, thread or process, so records need not look them up: that lookup was a
    # third of an access line's cost (the logging HOWTO's "Optimization"). Only in a process kumo owns.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdStamp())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler])
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per migration step at every start
    if log_format == "json":
        logging.captureWarnings(True)  # Python warnings become JSON lines too
    return handler
