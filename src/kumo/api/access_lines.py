"""Where access lines go: under load, to a thread that writes them in batches (while kumo serves: its lifespan
starts and closes the writer); at once when requests are far apart, or when the app runs without its lifespan
(a test's ASGI transport).

An access line written on the event loop costs ~45 µs of CPU in place (cold code: the logging machinery runs
once between two requests), and it runs after the response, while the next request waits: a Vectorize query
over HTTP served 5 % fewer queries a second with the lines on. In a batch the same code runs warmer, on another
thread, every `FLUSH_EVERY` at most; idle, the thread does not wake (kumo.api.batched_writer). Each wake of that
thread costs the process ~0.3 ms (the thread's start, cold code, the GIL handed back and forth), so batches are
long: with the gateway at 8 connections, the thread took ~0.045 ms of CPU per request at 50 ms, ~0.015 at 0.5 s.
Requests more than `BUSY_GAP` apart keep writing at once: there a batch would hold a few lines and
cost the thread two wake-ups. A line keeps the time its request ended and its request id, and lines stay in
order. A `kill -9` loses at most the last `FLUSH_EVERY` of lines; `close()` writes what is left.
"""

from __future__ import annotations

import logging

from kumo.api.batched_writer import BatchedWriter

FLUSH_EVERY = 0.5  # seconds: still soon enough for a person reading the log as it grows
BUSY_GAP = 0.1  # seconds between two lines below which they go to the thread (5+ lines a batch)
BATCH = 1000
MAX_PENDING = 10_000  # lines (~10 MB) waiting for a stalled stderr; past it each is dropped with a warning

# Readable form; the JSON formatter writes the fields themselves (`args` is one mapping).
ACCESS_FORMAT = '%(client)s "%(method)s %(path)s" %(status)d %(bytes)dB %(duration_ms).1fms'

Line = tuple[float, str, dict]  # (time.time() when the response ended, request id, the line's fields)


class AccessLines:
    def __init__(self, logger: logging.Logger):
        self.log = logger
        self._writer: _LineWriter | None = None
        self._last = 0.0  # when the last line's request ended

    def enabled(self) -> bool:
        return self.log.isEnabledFor(logging.INFO)

    def start(self) -> None:
        if self._writer is None:
            self._writer = _LineWriter(self)

    def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    def write(self, line: Line) -> None:
        writer = self._writer
        busy = line[0] - self._last < BUSY_GAP
        self._last = line[0]
        if writer is not None and (busy or writer.waiting()):  # (behind lines still waiting: in order)
            writer.put(line)
        else:
            self.emit(line)

    def emit(self, line: Line) -> None:
        created, request_id, fields = line
        record = self.log.makeRecord(self.log.name, logging.INFO, "(access)", 0, ACCESS_FORMAT, (fields,), None)
        record.created = created
        record.msecs = int((created - int(created)) * 1000) + 0.0
        record.request_id = request_id  # kumo.log_format.RequestIdStamp keeps it: this thread is in no request
        self.log.handle(record)


class _LineWriter(BatchedWriter[Line]):
    def __init__(self, lines: AccessLines):
        self.lines = lines
        super().__init__(batch=BATCH, flush_every=FLUSH_EVERY, max_pending=MAX_PENDING, name="kumo-access-lines",
                         what="access lines")

    def _write_batch(self, batch: list[Line]) -> None:
        for line in batch:
            try:
                self.lines.emit(line)
            except Exception:  # a handler that fails says so itself (logging.Handler.handleError); go on
                pass
