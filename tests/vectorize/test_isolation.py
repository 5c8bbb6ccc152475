"""Two account ids never see each other's indexes or vectors."""

from __future__ import annotations

import cloudflare
import pytest

from tests.vectorize.helpers import make_vectors, ndjson


def test_accounts_are_isolated(cf):
    a, b = "iso-account-a", "iso-account-b"
    for acct in (a, b):
        for ix in cf.vectorize.indexes.list(account_id=acct):
            cf.vectorize.indexes.delete(ix.name, account_id=acct)
    cf.vectorize.indexes.create(account_id=a, name="shared", config={"dimensions": 4, "metric": "cosine"})
    cf.vectorize.indexes.create(account_id=b, name="shared", config={"dimensions": 4, "metric": "euclidean"})
    cf.vectorize.indexes.insert("shared", account_id=a, body=ndjson(make_vectors(5, 4)))
    assert cf.vectorize.indexes.info("shared", account_id=a).vector_count == 5
    assert cf.vectorize.indexes.info("shared", account_id=b).vector_count == 0
    assert cf.vectorize.indexes.get("shared", account_id=b).config.metric == "euclidean"
    assert cf.vectorize.indexes.get_by_ids("shared", account_id=b, ids=["v1"]) == []
    cf.vectorize.indexes.create(account_id=a, name="only-a", config={"dimensions": 4, "metric": "cosine"})
    assert sorted(ix.name for ix in cf.vectorize.indexes.list(account_id=a)) == ["only-a", "shared"]
    assert [ix.name for ix in cf.vectorize.indexes.list(account_id=b)] == ["shared"]
    with pytest.raises(cloudflare.NotFoundError):
        cf.vectorize.indexes.query("only-a", account_id=b, vector=[1, 0, 0, 0])
    cf.vectorize.indexes.delete("shared", account_id=b)
    assert cf.vectorize.indexes.info("shared", account_id=a).vector_count == 5
