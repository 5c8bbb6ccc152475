"""What a gateway log row keeps of odd text, on both SQL stores: a lone surrogate (forwarded untouched in a body)
becomes U+FFFD, other non-ASCII text is kept, PostgreSQL's NUL becomes U+FFFD, and a plain row is stored as
written; its JSON columns read back the same whichever encoder wrote them."""

from __future__ import annotations

import json

import pytest

from kumo.gateway.logs import new_ulid
from kumo.gateway.store import LogRecord
from kumo.storage.sql_gateway import SqlGatewayStore
from tests.sql_databases import BACKENDS, sql_database


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    db = sql_database(request, tmp_path, "gateway")
    yield SqlGatewayStore(db)
    db.close()


def record(account: str, model: str, **extra) -> LogRecord:
    return LogRecord(id=new_ulid(), account=account, gateway="g", created_at="2026-12-04T17:00:00.000Z",
                     provider="openai", model=model, path="chat/completions", status_code=200, success=True,
                     cached=False, duration=5, **extra)


def test_odd_text_in_a_log_row(store, account):
    plain = record(account, "gpt-4o-mini", metadata={"user": "ana"}, request_head={"content-type": "application/json"},
                   decisions={"steps": [{"step": 0, "outcome": "answered"}]})
    accented = record(account, "café-模型", metadata={"user": "zoë"})
    surrogate = record(account, "gpt-\ud83d", metadata={"user": "\ud83d"})
    rows = [plain, accented, surrogate]
    nul = record(account, "gpt\x00x")
    if store.db.dialect == "postgresql":
        rows.append(nul)
    store.write_logs(rows, {})

    def read(r: LogRecord) -> dict:
        item = store.get_log(account, "g", r.id)
        assert item is not None
        return item

    got = read(plain)  # metadata is a JSON string, as Cloudflare sends it: compact, as JSON.stringify writes it
    assert (got["model"], got["metadata"], got["request_head"]) == (
        "gpt-4o-mini", '{"user":"ana"}', {"content-type": "application/json"})
    assert got["decisions"] == {"steps": [{"step": 0, "outcome": "answered"}]}
    assert (read(accented)["model"], json.loads(read(accented)["metadata"])) == ("café-模型", {"user": "zoë"})
    assert read(surrogate)["model"].strip("\ufffd") == "gpt-"  # its UTF-8 bytes, each replaced
    # PostgreSQL's rows have it replaced (its bytes, each); SQLite's keep it escaped in the JSON text
    assert json.loads(read(surrogate)["metadata"])["user"].strip("\ufffd") in ("", "\ud83d")
    if store.db.dialect == "postgresql":
        assert read(nul)["model"] == "gpt\ufffdx"


def test_ulids_are_crockford_and_sort_by_time():
    import time

    first = new_ulid()
    time.sleep(0.002)
    second = new_ulid()
    assert len(first) == 26 and set(first + second) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    assert first[:10] < second[:10] and first[0] in "01234567"  # 48 bits of ms: the top character holds 3 bits
