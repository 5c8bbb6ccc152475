"""Hypothesis strategies for hostile input: lone surrogates, deep nesting, numbers beyond every range, wrong JSON
types, odd headers, paths and queries. Bodies are written by hand (`dumps`) so they can hold what no JSON library
writes: `1e400`, 5,000-digit integers, 100k levels of nesting."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st


class Raw(str):
    """JSON text inserted as is."""


def dumps(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)  # ensure_ascii: a lone surrogate goes out as the escape `\ud83d`


def encoded(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # the body bytes: only the escapes carry surrogates


HOSTILE_STRINGS = [
    "\ud83d", "emoji cut \ud83d here", "\udc00", "\x00", "", " ", "é", "😀", "../../etc/passwd", "%2F..%2F",
    "a" * 5000, "'; DROP TABLE x; --", "\u202e", "null", "<script>", "a/b", "a?b#c", "\n", "\\",
]
HOSTILE_NUMBERS = [
    Raw("1e400"), Raw("-1e400"), Raw("1" + "0" * 5000), Raw("-" + "9" * 400), 2**63, 2**64, -(2**63) - 1,
    1e308, -1, 0, 0.5, -0.0, 10**30, 2**31, Raw("1E+999"),
]
DEEP = [
    Raw("[" * 100_000 + "]" * 100_000),
    Raw('{"a":' * 20_000 + "1" + "}" * 20_000),
    Raw("[" * 70 + "1" + "]" * 70),
]
WRONG_TYPES: list[Any] = [[], {}, [1], {"a": 1}, None, True, False, "x", 1, ["x", {"y": []}], [[[]]]]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 10), st.text(max_size=8),
                    st.sampled_from(HOSTILE_STRINGS))
small_json = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                          st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                          max_leaves=6)
hostile = st.one_of(
    st.sampled_from(HOSTILE_STRINGS), st.sampled_from(HOSTILE_NUMBERS), st.sampled_from(DEEP),
    st.sampled_from(WRONG_TYPES), small_json,
)
RAW_BODIES = [b"", b"   ", b"{", b"[1,]", b"\xff\xfe\x00", b"NaN", b"Infinity", b'"\\ud83d"', b"\xed\xa0\xbd",
              b"null", b"[]", b"{}", b"1e400", b'{"a":1}{"b":2}', b"\x00"]


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value[:3]):
            out += _paths(child, prefix + (index,))
    return out


def _replace(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


def _drop(value: Any, path: tuple) -> Any:
    if len(path) == 1:
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if k != path[0]}
        return [v for i, v in enumerate(value) if i != path[0]]
    head = path[0]
    if isinstance(value, dict):
        return {**value, head: _drop(value[head], path[1:])}
    copy = list(value)
    copy[head] = _drop(copy[head], path[1:])
    return copy


@st.composite
def mutated(draw, template: Any) -> Any:
    """A valid request with one part made hostile: a value replaced, a key dropped or added, or all of it."""
    paths = _paths(template)
    kind = draw(st.sampled_from(["replace"] * 6 + ["drop", "add", "whole", "valid"]))
    if kind == "valid":
        return template
    if kind == "whole" or not paths:
        return draw(hostile)
    path = draw(st.sampled_from(paths))
    if kind == "drop":
        return _drop(template, path)
    if kind == "add" and isinstance(template, dict):
        return {**template, draw(st.sampled_from(["extra", "\ud83d", "a" * 300])): draw(hostile)}
    return _replace(template, path, draw(hostile))


def path_segment(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


QUERY_NAMES = ["page", "per_page", "count", "cursor", "search", "filters", "metadata_filter", "status", "limit",
               "offset", "returnValues", "queueRequest", "unparsable_behavior", "model", "task", "namespace",
               "sort_by", "order_by", "direction", "start_date", "end_date", "success", "window", "gateway"]
QUERY_VALUES = ["1", "0", "-1", "10" * 20, "1e400", "inf", "nan", "9" * 5000, "true", "x", "\ud83d", "[]", "{}",
                Raw("[" * 1000 + "]" * 1000), '[{"key":"model","operator":"eq","value":["\\ud83d"]}]',
                '{"a":{"$eq":"\\ud83d"}}', '{"a":' * 200 + "1" + "}" * 200, "2026-13-45", ""]


@st.composite
def queries(draw) -> str:
    pairs = draw(st.lists(st.tuples(st.sampled_from(QUERY_NAMES), st.sampled_from(QUERY_VALUES)), max_size=3))
    return "&".join(f"{quote(k)}={quote(str(v).encode('utf-8', 'surrogatepass'), safe='')}" for k, v in pairs)


HEADER_NAMES = ["cf-aig-cache-ttl", "cf-aig-request-timeout", "cf-aig-max-attempts", "cf-aig-retry-delay",
                "cf-aig-metadata", "cf-aig-custom-cost", "cf-aig-skip-cache", "cf-aig-backoff", "cf-aig-cache-key",
                "cf-aig-collect-log", "cf-aig-event-id", "content-type", "cf-aig-authorization", "accept",
                "cf-aig-first-token-timeout", "cf-aig-stream-idle-timeout"]
# at most a few kB: longer header sections are the HTTP server's to refuse, before kumo sees them
HEADER_VALUES = [b"inf", b"-inf", b"nan", b"1e400", b"-1", b"9" * 5000, b"1_000", b"0x10", b"", b"true",
                 b'{"a":"\\ud83d"}', b'{"a":' * 1000 + b"1" + b"}" * 1000, b"[" * 3000 + b"]" * 3000,
                 b'{"a":1e400,"b":' + b"1" * 5000 + b"}", b'{"total_cost":1e400}', b'{"per_token_in":-1}',
                 "é".encode("latin-1"), "😀".encode(), b"\xed\xa0\xbd", b"application/json",
                 b"multipart/form-data; boundary=x", b"text/plain; charset=\xff", b"application/x-ndjson"]


@st.composite
def headers(draw) -> dict[str, bytes]:
    pairs = draw(st.lists(st.tuples(st.sampled_from(HEADER_NAMES), st.sampled_from(HEADER_VALUES)), max_size=3))
    return dict(pairs)
