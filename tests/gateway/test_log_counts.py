"""Retention (`log_management`) without counting a gateway's logs on every batch, on both SQL stores: the count
is taken once, follows this process's own writes and deletions, is taken again after `REFRESH` seconds (what
another node did is then seen) and after a deletion through the logs API; the limits hold as before."""

from __future__ import annotations

import pytest

from kumo.gateway.log_query import LogQuery
from kumo.gateway.logs import new_ulid
from kumo.gateway.store import LogRecord
from kumo.storage.log_counts import REFRESH, LogCounts
from kumo.storage.sql_gateway import SqlGatewayStore
from tests.sql_databases import BACKENDS, sql_database


class CountedCounts(LogCounts):
    """LogCounts on a clock the test moves, saying how often it counted in the database."""

    def __init__(self):
        self.now = 0.0
        self.taken = 0
        super().__init__(clock=lambda: self.now)

    def count(self, key, count_now):
        def counted() -> int:
            self.taken += 1
            return count_now()

        return super().count(key, counted)


@pytest.fixture(params=BACKENDS)
def db(request, tmp_path):
    database = sql_database(request, tmp_path, "gateway")
    yield database
    database.close()


def store_on(db) -> tuple[SqlGatewayStore, CountedCounts]:
    store = SqlGatewayStore(db)
    store.log_counts = counts = CountedCounts()
    return store, counts


def batch(account: str, n: int, start: int) -> list[LogRecord]:
    return [LogRecord(id=new_ulid(), account=account, gateway="g", created_at=f"2026-12-04T17:00:{start + i:02d}.000Z",
                      provider="openai", model="m", path="chat/completions", status_code=200, success=True,
                      cached=False, duration=5, metadata={"i": start + i}) for i in range(n)]


def stored(store: SqlGatewayStore, account: str) -> list[int]:
    rows, _ = store.query_logs(account, "g", LogQuery(direction="asc", per_page=100))
    return [int(r["metadata"].split(":")[1].rstrip("}")) for r in rows]


def test_stop_inserting_counts_once(db, account):
    store, counts = store_on(db)
    for start in range(0, 16, 4):
        store.write_logs(batch(account, 4, start), {(account, "g"): (10, "STOP_INSERTING")})
    assert stored(store, account) == list(range(10))
    assert counts.taken == 1


def test_delete_oldest_counts_once(db, account):
    store, counts = store_on(db)
    for start in range(0, 20, 4):
        store.write_logs(batch(account, 4, start), {(account, "g"): (10, "DELETE_OLDEST")})
    assert stored(store, account) == list(range(10, 20))
    assert counts.taken == 1


def test_a_deletion_through_the_api_is_counted_again(db, account):
    store, counts = store_on(db)
    limit = {(account, "g"): (6, "STOP_INSERTING")}
    store.write_logs(batch(account, 6, 0), limit)
    assert store.delete_logs(account, "g", LogQuery(order_by="created_at", direction="asc", limit=4)) == 4
    store.write_logs(batch(account, 6, 6), limit)
    assert stored(store, account) == [4, 5, 6, 7, 8, 9]
    assert counts.taken == 2


def test_another_nodes_deletion_is_seen_after_refresh(db, account):
    store, counts = store_on(db)
    other, _ = store_on(db)  # a second kumo on the same database
    limit = {(account, "g"): (4, "STOP_INSERTING")}
    store.write_logs(batch(account, 4, 0), limit)
    other.delete_logs(account, "g", LogQuery())
    store.write_logs(batch(account, 2, 4), limit)  # still believes it holds 4: dropped
    assert stored(store, account) == []
    counts.now += REFRESH
    store.write_logs(batch(account, 2, 6), limit)
    assert stored(store, account) == [6, 7]
    assert counts.taken == 2


def test_a_count_read_before_a_deletion_is_not_kept():
    counts = CountedCounts()
    key = ("a", "g")
    n, generation = counts.count(key, lambda: 5)
    counts.forget(key)
    counts.count(key, lambda: 1)  # counted again after the deletion
    counts.keep(key, n + 3, generation)  # a batch that began before it: not trusted
    assert counts.count(key, lambda: 2) == (2, 1) and counts.taken == 3


def test_a_failed_write_forgets_the_counts(db, account):
    store, counts = store_on(db)
    limit = {(account, "g"): (10, "STOP_INSERTING")}
    store.write_logs(batch(account, 2, 0), limit)
    with pytest.raises(Exception):
        store.write_logs(batch(account, 1, 2) + [None], limit)  # type: ignore[list-item]
    store.write_logs(batch(account, 2, 3), limit)
    assert stored(store, account) == [0, 1, 3, 4]
    assert counts.taken == 2
