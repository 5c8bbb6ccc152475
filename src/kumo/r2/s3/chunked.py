"""`Content-Encoding: aws-chunked` bodies: `<hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n` ... a zero-size
chunk, then trailers (`x-amz-checksum-crc32:<base64>`, and `x-amz-trailer-signature` when signed) and a blank
line. Decoded as it streams; chunk signatures are checked when the request was signed with a known secret."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterable, AsyncIterator, Callable

from kumo.r2 import errors
from kumo.r2.s3 import sigv4

MAX_LINE = 4096
MAX_TRAILER_BYTES = 16 * 1024


def _bad(message: str) -> errors.R2Error:
    return errors.IncompleteBody(f"The aws-chunked body is malformed: {message}")


class ChunkedDecoder:
    """Iterate `decode(body)` for the payload; `trailers` is filled once the body has been read to its end.

    `signing_key` given: each chunk's signature is checked (chained from `seed`), and so is the trailer's.
    """

    def __init__(self, claim: sigv4.SignedRequest | None = None, signing_key: bytes | None = None,
                 on_trailer: Callable[[str, str], None] | None = None):
        self._claim = claim
        self._key = signing_key if claim is not None and claim.payload.startswith("STREAMING-AWS4") else None
        self._previous = claim.signature if claim is not None else ""
        self._on_trailer = on_trailer
        self.trailers: dict[str, str] = {}

    def _check_chunk(self, signature: str | None, digest: str) -> None:
        if self._key is None or self._claim is None:
            return
        if signature is None:
            raise errors.SignatureDoesNotMatch("A chunk of the aws-chunked body carries no chunk-signature.")
        expected = sigv4.sign(self._key, sigv4.chunk_string_to_sign(self._claim, self._previous, digest))
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise errors.SignatureDoesNotMatch("A chunk signature of the aws-chunked body does not match.")
        self._previous = signature

    async def decode(self, body: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        source = body.__aiter__()
        buffer = bytearray()
        ended = False

        async def fill() -> bool:
            nonlocal ended
            if ended:
                return False
            try:
                chunk = await source.__anext__()
            except StopAsyncIteration:
                ended = True
                return False
            buffer.extend(chunk)
            return True

        async def line() -> bytes:
            while True:
                at = buffer.find(b"\r\n")
                if at >= 0:
                    text = bytes(buffer[:at])
                    del buffer[:at + 2]
                    return text
                if len(buffer) > MAX_LINE:
                    raise _bad("a chunk header line is too long")
                if not await fill():
                    raise _bad("the body ended inside a chunk header")

        while True:
            header = (await line()).decode("latin-1")
            size_text, _, extension = header.partition(";")
            try:
                size = int(size_text.strip(), 16)
            except ValueError:
                raise _bad(f"chunk size {size_text[:20]!r} is not hexadecimal") from None
            signature = None
            if extension:
                name, _, value = extension.partition("=")
                if name.strip() == "chunk-signature":
                    signature = value.strip()
            digest = hashlib.sha256() if self._key is not None else None
            remaining = size
            while remaining:
                if not buffer and not await fill():
                    raise _bad("the body ended inside a chunk")
                piece = bytes(buffer[:remaining])
                del buffer[:len(piece)]
                remaining -= len(piece)
                if digest is not None:
                    digest.update(piece)
                yield piece
            if digest is not None:
                self._check_chunk(signature, digest.hexdigest())
            if size == 0:
                break
            if await line() != b"":
                raise _bad("a chunk's data is longer than its size")
        await self._read_trailers(line)

    async def _read_trailers(self, line) -> None:
        lines: list[str] = []
        total = 0
        while True:
            try:
                text = (await line()).decode("latin-1")
            except errors.IncompleteBody:
                break  # some clients end the body right after the last trailer line
            if text == "":
                break
            total += len(text)
            if total > MAX_TRAILER_BYTES:
                raise _bad("the trailers are too long")
            lines.append(text)
        signature = None
        signed_part = ""
        for text in lines:
            name, _, value = text.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "x-amz-trailer-signature":
                signature = value
                continue
            signed_part += f"{name}:{value}\n"
            self.trailers[name] = value
        if self._key is not None and self._claim is not None and self._claim.payload == sigv4.STREAMING_SIGNED_TRAILER:
            if signature is None:
                raise errors.SignatureDoesNotMatch("The aws-chunked trailer carries no x-amz-trailer-signature.")
            digest = hashlib.sha256(signed_part.encode()).hexdigest()
            expected = sigv4.sign(self._key, sigv4.trailer_string_to_sign(self._claim, self._previous, digest))
            if not hmac.compare_digest(expected.encode(), signature.encode()):
                raise errors.SignatureDoesNotMatch("The trailer signature of the aws-chunked body does not match.")
        if self._on_trailer is not None:
            for name, value in self.trailers.items():
                self._on_trailer(name, value)
