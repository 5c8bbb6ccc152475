"""The metadata filter language, evaluated against typed columns."""

from __future__ import annotations

import numpy as np
import pytest

from kumo.errors import InvalidRequest
from kumo.vectorize.filters import MetadataFilter
from kumo.vectorize.metadata import MetadataColumn, truncate_utf8

ROWS = [
    {"genre": "drama", "year": 1994, "ok": True, "m": {"lang": "en"}},
    {"genre": "comedy", "year": 2001, "ok": False, "m": {"lang": "fr"}},
    {"genre": "drama", "year": 2010.5, "m": {"lang": "en"}},
    {"genre": 5, "year": "1999"},
    {},
]


def columns() -> dict[str, MetadataColumn]:
    cols = {"genre": MetadataColumn("string"), "year": MetadataColumn("number"), "ok": MetadataColumn("boolean"),
            "m.lang": MetadataColumn("string")}
    for path, col in cols.items():
        col.resize(len(ROWS))
        for slot, row in enumerate(ROWS):
            col.set(slot, path, row)
    return cols


def hits(flt: dict) -> list[int]:
    mask = MetadataFilter.parse(flt).mask(columns(), len(ROWS))
    return np.flatnonzero(mask).tolist()


CASES = [  # (filter, matching rows of ROWS); tests/vectorize/test_pg_filters.py checks the SQL against them too
    ({"genre": "drama"}, [0, 2]),
    ({"genre": {"$eq": "drama"}}, [0, 2]),
    ({"genre": {"$ne": "drama"}}, [1, 3, 4]),
    ({"genre": {"$in": ["comedy", "drama"]}}, [0, 1, 2]),
    ({"genre": {"$nin": ["comedy", "drama"]}}, [3, 4]),
    ({"genre": 5}, []),  # 5 is not a string: a string index never holds it
    ({"year": {"$gte": 1994, "$lt": 2010}}, [0, 1]),
    ({"year": {"$gt": 2001}}, [2]),
    ({"year": 1994.0}, [0]),
    ({"year": {"$lte": "2000"}}, []),  # a string bound never matches a number index
    ({"ok": True}, [0]),
    ({"ok": False}, [1]),
    ({"ok": {"$ne": True}}, [1, 2, 3, 4]),
    ({"ok": {"$eq": None}}, [2, 3, 4]),
    ({"ok": {"$ne": None}}, [0, 1]),
    ({"m.lang": "en", "year": {"$lt": 2000}}, [0]),
    ({"genre": {"$gte": "d", "$lt": "e"}}, [0, 2]),  # prefix search
    ({"unindexed": "x"}, []),
    ({"unindexed": {"$ne": "x"}}, [0, 1, 2, 3, 4]),
]


@pytest.mark.parametrize("flt, want", CASES)
def test_semantics(flt, want):
    assert hits(flt) == want


def test_truncation_on_both_sides():
    assert truncate_utf8("a" * 70) == "a" * 64
    assert truncate_utf8("é" * 40) == "é" * 32  # never cuts a character in half
    col = MetadataColumn("string")
    col.resize(1)
    col.set(0, "s", {"s": "x" * 100})
    assert MetadataFilter.parse({"s": "x" * 80}).mask({"s": col}, 1).tolist() == [True]


@pytest.mark.parametrize("bad", [{}, [], "x", {"a": {"$exists": True}}, {"a": {"$in": "x"}}, {"$or": []}])
def test_rejects(bad):
    with pytest.raises(InvalidRequest):
        MetadataFilter.parse(bad)
