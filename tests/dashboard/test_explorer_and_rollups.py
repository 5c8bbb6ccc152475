"""The store's pieces behind the dashboard, on SQLite: the log explorer's bounded steps (a rare filter never
scans every log at once, yet stepping finds every match) and rollups' counts and latency percentiles."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from starlette.datastructures import MultiDict

from kumo.gateway.analytics import gateway_analytics
from kumo.gateway.log_query import parse_log_query
from kumo.gateway.rollups import Rollup, latency_bucket
from kumo.gateway.store import LogRecord
from kumo.storage.sql_gateway import SqlGatewayStore
from kumo.storage.sqlite import SqliteDatabase


def _records(n: int, start: datetime) -> list[LogRecord]:
    out = []
    for i in range(n):
        at = (start + timedelta(seconds=i)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        failed = i in (3, 17)
        out.append(LogRecord(id=f"01LOG{i:021d}", account="a", gateway="g", created_at=at, provider="openai",
                             model="m" if i % 2 else "n", path="chat/completions", status_code=500 if failed else 200,
                             success=not failed, cached=i % 5 == 0, duration=40 + 10 * i, tokens_in=10,
                             tokens_out=5, cost=0.001))
    return out


def test_rare_matches_are_found_in_bounded_steps(tmp_path):
    store = SqlGatewayStore(SqliteDatabase(tmp_path / "g.sqlite3", branch="gateway"))
    store.write_logs(_records(40, datetime.now(timezone.utc) - timedelta(minutes=5)), {})
    errors = parse_log_query(MultiDict([("success", "false"), ("per_page", "5")]))
    found, cursor, steps = [], None, 0
    while True:
        items, info = store.explore_logs("a", "g", errors, cursor, scan=10)
        steps += 1
        found += [i["id"] for i in items]
        if info["next"] is None:
            break
        assert info["partial"]  # a full page was never reached: each step stopped at its budget
        cursor = info["next"]
    assert found == ["01LOG" + f"{17:021d}", "01LOG" + f"{3:021d}"] and steps == 4
    every = parse_log_query(MultiDict([("per_page", "7")]))
    seen, cursor = [], None
    while True:  # plain paging walks every log once, newest first
        items, info = store.explore_logs("a", "g", every, cursor, scan=10)
        seen += [i["id"] for i in items]
        if info["next"] is None:
            break
        cursor = info["next"]
    assert seen == [f"01LOG{i:021d}" for i in reversed(range(40))]
    store.close()


def test_rollups_count_and_percentiles(tmp_path):
    store = SqlGatewayStore(SqliteDatabase(tmp_path / "g.sqlite3", branch="gateway"))
    store.write_logs(_records(40, datetime.now(timezone.utc) - timedelta(minutes=5)), {})
    data = gateway_analytics(store, "a", "g", "1h")
    assert (data.total.requests, data.total.errors, data.total.cached) == (40, 2, 8)
    assert data.total.tokens_in == 400 and abs(data.total.cost - 0.04) < 1e-9
    assert set(data.by_model) == {("openai", "m"), ("openai", "n")}
    assert sum(r.requests for r in data.per_bucket) == 40
    # durations 40..430 ms: the true median is 235 ms, p95 ~410 ms; the histogram answers within its bucket
    assert 200 <= data.total.percentile(0.5) <= 300 and 300 <= data.total.percentile(0.95) <= 500
    assert Rollup().percentile(0.5) is None and latency_bucket(10) == 0 and latency_bucket(10 ** 7) == 19
    for window in ("24h", "7d", "30d"):
        assert gateway_analytics(store, "a", "g", window).total.requests == 40
    store.close()


def test_session_keys_are_made_once_and_sign_what_they_issue(tmp_path):
    import os
    import stat

    from kumo.dashboard.session import SessionKeys

    first, second = SessionKeys.load(None, tmp_path), SessionKeys.load(None, tmp_path)
    cookie, session = first.issue("dev")
    assert second.read(cookie) == session  # the same key from the file, as after a restart
    assert stat.S_IMODE(os.stat(tmp_path / "dashboard-secret").st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["dashboard-secret"]
    payload, mac = cookie.split(".")
    forged = ("A" if mac[0] != "A" else "B") + mac[1:]
    assert second.read(payload + "." + forged) is None  # a changed signature
    assert second.read(cookie, now=session.expires + 1) is None  # expired
    assert SessionKeys.load("configured", tmp_path).read(cookie) is None  # another key
