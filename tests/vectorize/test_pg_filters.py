"""The metadata filter compiled to SQL (pgvector engine) answers exactly what the embedded engine answers:
the filter-language cases of test_filters.py, plus what only SQL could get wrong (byte order of strings,
64-byte truncation on both sides, '%' and quotes in values, vectors written before the metadata index)."""

from __future__ import annotations

import uuid

import pytest

import kumo
from tests.vectorize.test_filters import CASES, ROWS

EXTRA_ROWS = [{"genre": "é-drama"}, {"genre": "z" * 70 + "a"}, {"genre": "z" * 70 + "b"}, {"genre": "50% off"},
              {"genre": "it's"}, {"year": 1e300, "ok": 1}, {"genre": True, "m": {"lang": 7}}]
EXTRA_FILTERS = [
    {"genre": {"$gt": "z"}}, {"genre": "z" * 64}, {"genre": "z" * 70 + "c"}, {"genre": {"$lt": "é"}},
    {"genre": "50% off"}, {"genre": {"$in": ["50% off", "it's"]}}, {"genre": {"$nin": ["drama", "it's"]}},
    {"year": {"$gte": 1e299}}, {"ok": {"$in": [True, 1]}}, {"m.lang": {"$ne": "en"}}, {"genre": {"$eq": None}},
    {"genre": "drama", "ok": {"$ne": None}},
]
INDEXES = [("genre", "string"), ("year", "number"), ("ok", "boolean"), ("m.lang", "string")]


def load(env) -> None:
    service, account = env.vectorize, env.account_id
    service.create_index(account, "ff", {"dimensions": 2, "metric": "euclidean"})
    index = env.VECTORIZE("ff")
    index.upsert([{"id": "early", "values": [0.5, 0], "metadata": {"genre": "drama"}}])  # before the indexes
    for prop, kind in INDEXES:
        service.create_metadata_index(account, "ff", prop, kind)
    rows = ROWS + EXTRA_ROWS
    index.upsert([{"id": f"r{i}", "values": [float(i + 1), 0.0], "metadata": row} for i, row in enumerate(rows)])


@pytest.fixture(scope="module")
def envs(tmp_path_factory, pg_url):
    embedded = kumo.Env(data_dir=tmp_path_factory.mktemp("filters-embedded"))
    postgres = kumo.Env(data_dir=tmp_path_factory.mktemp("filters-pg"), database_url=pg_url,
                        account_id="filters-" + uuid.uuid4().hex[:8])
    for env in (embedded, postgres):
        load(env)
    yield embedded, postgres
    embedded.close()
    postgres.close()


def ids(env, flt) -> list[str]:
    res = env.VECTORIZE("ff").query([0.0, 0.0], {"topK": 100, "filter": flt, "returnMetadata": "indexed"})
    return [m["id"] for m in res["matches"]]


@pytest.mark.parametrize("flt, want", CASES)
def test_filter_language_cases(envs, flt, want):
    embedded, postgres = envs
    got = ids(postgres, flt)
    assert got == ids(embedded, flt)
    assert [i for i in got if i.startswith("r") and int(i[1:]) < len(ROWS)] == [f"r{i}" for i in want]


@pytest.mark.parametrize("flt", EXTRA_FILTERS, ids=str)
def test_what_sql_could_get_wrong(envs, flt):
    embedded, postgres = envs
    assert ids(postgres, flt) == ids(embedded, flt)


def test_indexed_metadata_is_the_same(envs):
    embedded, postgres = envs
    query = lambda env: env.VECTORIZE("ff").query([0.0, 0.0], {"topK": 20, "returnMetadata": "indexed"})  # noqa: E731
    assert query(postgres) == query(embedded)
