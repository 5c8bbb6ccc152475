"""Recursive chunking, as Cloudflare describes AI Search's: split at paragraphs, then sentences, then words
when a sentence alone is too long; pack the pieces into chunks of at most `size` tokens, preferring to end a
chunk where a paragraph ends, and start each chunk with the last sentences of the previous one (`overlap`
percent of `size`). Tokens are counted as words and punctuation marks, which is close to what WordPiece
tokenizers count for English prose without loading one."""

from __future__ import annotations

import re
from dataclasses import dataclass

TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
PARAGRAPH = re.compile(r"\n\s*\n")
SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\n")


@dataclass(frozen=True)
class Chunk:
    position: int
    text: str
    start_byte: int
    end_byte: int


@dataclass(frozen=True)
class _Unit:
    start: int  # character offsets into the text
    end: int
    tokens: int
    opens_paragraph: bool


def count_tokens(text: str) -> int:
    return len(TOKEN.findall(text))


def _spans(text: str, pattern: re.Pattern, start: int, end: int) -> list[tuple[int, int]]:
    out, cursor = [], start
    for match in pattern.finditer(text, start, end):
        if match.start() > cursor:
            out.append((cursor, match.start()))
        cursor = match.end()
    if cursor < end:
        out.append((cursor, end))
    return [(s, e) for s, e in out if text[s:e].strip()]


def _units(text: str, size: int) -> list[_Unit]:
    units: list[_Unit] = []
    for p_start, p_end in _spans(text, PARAGRAPH, 0, len(text)):
        first = True
        for s_start, s_end in _spans(text, SENTENCE_END, p_start, p_end):
            tokens = list(TOKEN.finditer(text, s_start, s_end))
            if len(tokens) <= size:
                units.append(_Unit(s_start, s_end, len(tokens), first))
            else:  # one sentence longer than a chunk: cut it every `size` tokens
                for i in range(0, len(tokens), size):
                    window = tokens[i : i + size]
                    units.append(_Unit(window[0].start(), window[-1].end(), len(window), first and i == 0))
            first = False
    return units


def chunk_text(text: str, size: int = 256, overlap_percent: int = 10, enabled: bool = True) -> list[Chunk]:
    """Chunks of `text` with byte offsets into its UTF-8 encoding."""
    if not text.strip():
        return []
    if not enabled:
        return [Chunk(0, text, 0, len(text.encode()))]
    overlap = size * overlap_percent // 100
    units = _units(text, size)
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        j, tokens = i, 0
        while j < len(units) and (tokens + units[j].tokens <= size or j == i):
            # a paragraph boundary is a better place to stop than the middle of the next paragraph
            if j > i and units[j].opens_paragraph and tokens >= size * 3 // 4:
                break
            tokens += units[j].tokens
            j += 1
        spans.append((units[i].start, units[j - 1].end))
        if j >= len(units):
            break
        # step back over the last sentences (up to `overlap` tokens) so the next chunk repeats them
        back, carried = j, 0
        while overlap and back - 1 > i and carried + units[back - 1].tokens <= overlap:
            back -= 1
            carried += units[back].tokens
        i = back
    return _with_bytes(text, spans)


def _with_bytes(text: str, spans: list[tuple[int, int]]) -> list[Chunk]:
    """Character spans -> chunks with UTF-8 byte offsets, walking the text once."""
    offsets: dict[int, int] = {}
    char, byte = 0, 0
    for point in sorted({p for span in spans for p in span}):
        byte += len(text[char:point].encode())
        char = point
        offsets[point] = byte
    return [Chunk(i, text[s:e], offsets[s], offsets[e]) for i, (s, e) in enumerate(spans)]
