"""Watching a provider's stream on its way to the client: whole events only (a stream that breaks mid-event never
leaves half an event with the client, so a continuation can follow it), a first-token deadline (the first sign of
an answer, not the first byte: a role chunk or keep-alive comments do not count), a stall deadline between chunks,
and, where a next step could take over (`strict`), a malformed event or an error event inside the stream counts as
a break instead of being passed on.

With a dialect (a chat stream the gateway can read), it also keeps the answer text the client has received: what
a continuation asks the next provider to carry on from."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

import orjson

from kumo.gateway.dialects import Dialect
from kumo.gateway.errors import UPSTREAM_TIMEOUT, UPSTREAM_UNREACHABLE
from kumo.gateway.upstream_http import UpstreamBroken

_BOUNDARY = re.compile(rb"\r?\n\r?\n")


class StreamBroken(Exception):
    def __init__(self, reason: str, status: int = 502, code: int = UPSTREAM_UNREACHABLE):
        super().__init__(reason)
        self.reason, self.status, self.code = reason, status, code


def _last_boundary(buffer: bytes) -> int:
    """The end of the last complete event in `buffer` (0 when none is complete)."""
    end = buffer.rfind(b"\n\n")
    end = end + 2 if end >= 0 else 0
    crlf = buffer.rfind(b"\r\n\r\n")
    return max(end, crlf + 4 if crlf >= 0 else 0)


class StreamGuard:
    def __init__(self, chunks: AsyncIterator[bytes], dialect: Dialect | None, idle: float, *, strict: bool = False,
                 keep: int = 10 * 1024 * 1024, prior_text: str = ""):
        self._raw = chunks
        self.dialect = dialect
        self.idle = idle
        self.strict = strict
        self._keep = keep
        self.seen: list[bytes] = []  # the provider's bytes, for the log (bounded by `keep`)
        self._seen_size = 0
        self._buffer = b""
        self._pending: list[bytes] = []  # read by head(), not yet given to the client
        self._broken: StreamBroken | None = None  # found after some good events: raised once they are out
        self._text = [prior_text]
        self.content_events = 0  # events that carried the answer (given to the client or held by head())
        self.resumable = dialect is not None
        self.finished = False
        self.ended = False  # the provider closed the stream cleanly
        self._first_token_s: float | None = None

    @property
    def text(self) -> str:
        """The answer text so far (a continued answer's earlier part included)."""
        return "".join(self._text)

    async def head(self, deadline_s: float | None) -> None:
        """Read until the answer starts (or the stream ends cleanly), within `deadline_s`; StreamBroken otherwise.
        What was read is given to the client first by events()."""
        self._first_token_s = deadline_s
        deadline = time.monotonic() + deadline_s if deadline_s is not None else None
        while not self.content_events and self._broken is None:
            events = await self._next(deadline, first=True)
            if events is None:
                return
            if events:
                self._pending.append(events)

    async def events(self) -> AsyncIterator[bytes]:
        """Whole events for the client, then StreamBroken if the stream broke."""
        for held in self._pending:
            yield held
        self._pending = []
        while self._broken is None:
            events = await self._next(None)
            if events is None:
                return
            if events:
                yield events
        raise self._broken

    async def _next(self, deadline: float | None, first: bool = False) -> bytes | None:
        """The next run of whole, good events; None at the clean end."""
        if self._broken is not None:
            raise self._broken
        while True:
            timeout = self.idle
            if deadline is not None:
                timeout = min(timeout, max(deadline - time.monotonic(), 0.0))
            try:
                chunk = await asyncio.wait_for(self._raw.__anext__(), timeout)
            except StopAsyncIteration:
                self.ended = True
                tail, self._buffer = self._buffer, b""
                return self._inspect(tail) if tail else None
            except asyncio.TimeoutError:
                if deadline is not None and time.monotonic() >= deadline - 0.001:
                    raise StreamBroken(f"the provider sent no answer within the first-token deadline "
                                       f"of {self._first_token_s:g} s", 504, UPSTREAM_TIMEOUT) from None
                what = "before its first token" if first else "mid-stream"
                raise StreamBroken(f"the provider's stream stalled {what} for {self.idle:g} s", 504,
                                   UPSTREAM_TIMEOUT) from None
            except UpstreamBroken as exc:
                raise StreamBroken(f"the provider's stream broke off ({exc})") from None
            if self._seen_size <= self._keep:
                self.seen.append(chunk)
                self._seen_size += len(chunk)
            self._buffer += chunk
            end = _last_boundary(self._buffer)
            if end:
                whole, self._buffer = self._buffer[:end], self._buffer[end:]
                return self._inspect(whole)

    def _inspect(self, whole: bytes) -> bytes:
        """The good events of `whole`; a bad one (strict) is remembered in `_broken`, it and what follows dropped."""
        if self.dialect is None:
            self.content_events += 1
            return whole
        start = 0
        for match in _BOUNDARY.finditer(whole):
            problem = self._event(whole[start:match.start()])
            if problem is not None and self.strict:
                self._broken = StreamBroken(problem)
                return whole[:start]
            start = match.end()
        if start < len(whole):  # the unterminated last event of a stream that ended cleanly
            problem = self._event(whole[start:])
            if problem is not None and self.strict:
                self._broken = StreamBroken(problem)
                return whole[:start]
        return whole

    def _event(self, event: bytes) -> str | None:
        """Read one event into the answer; the reason it is bad, or None."""
        assert self.dialect is not None
        for line in event.splitlines():
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if not data or data == b"[DONE]":
                continue
            try:
                payload = orjson.loads(data)
            except orjson.JSONDecodeError:
                return "the provider sent a malformed event (not JSON)"
            piece = self.dialect.read(payload)
            if piece.error is not None:
                return piece.error
            if piece.text:
                self._text.append(piece.text)
            if piece.content:
                self.content_events += 1
            self.resumable = self.resumable and piece.resumable
            self.finished = self.finished or piece.finished
        return None
