"""AI Gateway state in SQL (SQLite or PostgreSQL): gateways, logs (metadata row + bodies) indexed for the
logs API filters, dynamic routes. Credentials never get here: the pipeline removes them before a record is built."""

from __future__ import annotations

import json
from typing import Any

import orjson

from kumo.gateway.log_query import Condition, LogQuery
from kumo.gateway.rollups import ADDED_COLUMNS, GRAINS, ROLLUP_COLUMNS, Rollup, rollup_rows
from kumo.storage.log_counts import LogCounts

_LOG_COLUMNS = (
    "id, created_at, provider, model, model_type, path, status_code, success, cached, duration, tokens_in, "
    "tokens_out, total_tokens, cost, custom_cost, metadata, step, event_id, request_content_type, "
    "response_content_type, request_type, feedback, score, decisions"
)
_DETAIL_COLUMNS = "request_head, response_head, request_size, response_size"
_SQL_OPS = {"eq": "=", "neq": "!=", "lt": "<", "gt": ">", "lte": "<=", "gte": ">="}


def _log_dict(row: tuple, names: list[str]) -> dict[str, Any]:
    item = dict(zip(names, row))
    for key in ("success", "cached", "custom_cost"):
        item[key] = bool(item[key])
    item.pop("total_tokens", None)
    decisions = item.pop("decisions", None)
    if decisions:  # kumo's own field, only on the logs of requests that may try several steps
        item["decisions"] = json.loads(decisions)
    return item


def _where(account: str, gateway: str, query: LogQuery, dialect: str) -> tuple[str, list[Any]]:
    clauses, args = ["account = ?", "gateway = ?"], [account, gateway]
    for cond in query.conditions:
        clause, values = _condition_sql(cond, dialect)
        clauses.append(clause)
        args.extend(values)
    if query.search:
        # lower() on both sides: SQLite's LIKE ignores ASCII case, PostgreSQL's does not
        clauses.append("(lower(model) LIKE ? OR lower(provider) LIKE ? OR lower(path) LIKE ? OR id = ? OR event_id = ?)")
        like = f"%{query.search.lower()}%"
        args.extend([like, like, like, query.search, query.search])
    return " AND ".join(clauses), args


def _condition_sql(cond: Condition, dialect: str) -> tuple[str, list[Any]]:
    if cond.key in ("metadata.key", "metadata.value"):
        part = "key" if cond.key == "metadata.key" else "value"
        inner, values = _compare(f"j.{part}", cond)
        entries = "json_each_text(gateway_logs.metadata::json)" if dialect == "postgresql" else \
            "json_each(gateway_logs.metadata)"
        return f"EXISTS (SELECT 1 FROM {entries} AS j WHERE {inner})", values
    return _compare(cond.key, cond)


def _compare(column: str, cond: Condition) -> tuple[str, list[Any]]:
    values = [int(v) if isinstance(v, bool) else v for v in cond.values]
    if cond.op == "contains":
        return ("(" + " OR ".join(f"lower(CAST({column} AS TEXT)) LIKE ?" for _ in values) + ")",
                [f"%{str(v).lower()}%" for v in values])
    if cond.op == "eq" and len(values) > 1:
        return f"{column} IN ({','.join('?' * len(values))})", values
    if cond.op == "neq" and len(values) > 1:
        return f"({column} IS NULL OR {column} NOT IN ({','.join('?' * len(values))}))", values
    if cond.op == "neq":
        return f"({column} IS NULL OR {column} != ?)", values[:1]
    return f"{column} {_SQL_OPS[cond.op]} ?", values[:1]


def _without_nul(value: Any) -> Any:
    """PostgreSQL text cannot hold NUL, which a request body's model name may carry: the row keeps the rest."""
    if isinstance(value, str):
        return _without_surrogates(value.replace("\x00", "\ufffd"))
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value


def _without_surrogates(value: Any) -> Any:
    """Nor can any UTF-8 store hold a lone surrogate, which the gateway forwards untouched in a body (`"\\ud83d"`)
    and the log's model name may carry: it is logged as U+FFFD."""
    if isinstance(value, str) and not value.isascii():
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return value


def _json(value: Any) -> str:
    """JSON text of a log's field; orjson first (a log row has up to four: ~10 % of the log writer's time)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson refuses what the stdlib writes (a lone surrogate, an int over 64 bits)
        return json.dumps(value)


def _log_row(r, clean) -> tuple:
    values = (
        r.id, r.account, r.gateway, r.created_at, r.provider, r.model, r.model_type, r.path,
        r.status_code, int(r.success), int(r.cached), r.duration, r.tokens_in, r.tokens_out,
        (r.tokens_in or 0) + (r.tokens_out or 0) if r.tokens_in is not None else None, r.cost,
        int(r.custom_cost), _json(clean(r.metadata)), r.step, r.event_id, r.request_content_type,
        r.response_content_type, r.request_type, _json(r.request_head), _json(r.response_head),
        len(r.request_body or b""), len(r.response_body or b""), r.feedback, r.score,
        _json(r.decisions) if r.decisions is not None else None)
    text = "".join([v for v in values if type(v) is str])
    if text.isascii() and "\x00" not in text:  # nearly every row: nothing to clean, and no call per value
        return values
    return tuple(clean(v) for v in values)


_ROLLUP_UPSERT = (
    f"INSERT INTO gateway_rollups ({', '.join(ROLLUP_COLUMNS)}) VALUES ({', '.join('?' * len(ROLLUP_COLUMNS))})"
    " ON CONFLICT (account, gateway, grain, bucket, provider, model) DO UPDATE SET "
    + ", ".join(f"{c} = gateway_rollups.{c} + excluded.{c}" for c in ADDED_COLUMNS))


class SqlGatewayStore:
    def __init__(self, db):
        self.db = db
        self.log_counts = LogCounts()  # retention's per-gateway counts, not taken on every batch

    # ---- gateways --------------------------------------------------------------------------
    def create_gateway(self, account, gateway_id, settings, now):
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO gateways (account, id, settings, created_at, modified_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (account, gateway_id, json.dumps(settings), now, now),
            )
            return cur.rowcount == 1

    @staticmethod
    def _gateway(row) -> dict[str, Any]:
        gid, settings, created, modified = row
        return {"id": gid, **json.loads(settings), "created_at": created, "modified_at": modified}

    def get_gateway(self, account, gateway_id):
        with self.db.reading() as conn:
            row = conn.execute("SELECT id, settings, created_at, modified_at FROM gateways WHERE account = ? AND id = ?",
                               (account, gateway_id)).fetchone()
        return self._gateway(row) if row else None

    def list_gateways(self, account, search):
        sql = "SELECT id, settings, created_at, modified_at FROM gateways WHERE account = ?"
        args: list[Any] = [account]
        if search:
            sql += " AND lower(id) LIKE ?"
            args.append(f"%{search.lower()}%")
        with self.db.reading() as conn:
            rows = conn.execute(sql + " ORDER BY created_at, id", args).fetchall()
        return [self._gateway(r) for r in rows]

    def update_gateway(self, account, gateway_id, settings, now):
        with self.db.transaction() as conn:
            cur = conn.execute("UPDATE gateways SET settings = ?, modified_at = ? WHERE account = ? AND id = ?",
                               (json.dumps(settings), now, account, gateway_id))
            return cur.rowcount == 1

    def delete_gateway(self, account, gateway_id):
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM gateway_log_bodies WHERE id IN (SELECT id FROM gateway_logs WHERE account = ?"
                         " AND gateway = ?)", (account, gateway_id))
            conn.execute("DELETE FROM gateway_logs WHERE account = ? AND gateway = ?", (account, gateway_id))
            conn.execute("DELETE FROM gateway_rollups WHERE account = ? AND gateway = ?", (account, gateway_id))
            conn.execute("DELETE FROM gateway_route_versions WHERE route_id IN (SELECT id FROM gateway_routes WHERE "
                         "account = ? AND gateway = ?)", (account, gateway_id))
            conn.execute("DELETE FROM gateway_routes WHERE account = ? AND gateway = ?", (account, gateway_id))
            conn.execute("DELETE FROM gateway_provider_keys WHERE account = ? AND gateway = ?", (account, gateway_id))
            conn.execute("DELETE FROM gateways WHERE account = ? AND id = ?", (account, gateway_id))
        self.log_counts.forget((account, gateway_id))

    # ---- logs ----------------------------------------------------------------------------------
    def write_logs(self, records, limits):
        """Insert a batch; `limits[(account, gateway)] = (max logs, strategy)` applies retention."""
        clean = _without_nul if self.db.dialect == "postgresql" else _without_surrogates
        counted = records
        after: list[tuple[tuple[str, str], int, int]] = []  # each limited gateway's count once committed
        try:
            with self.db.transaction() as conn:
                for key, (maximum, strategy) in limits.items():
                    account, gateway = key
                    batch = [r for r in records if r.account == account and r.gateway == gateway]
                    count, generation = self.log_counts.count(key, lambda: conn.execute(
                        "SELECT count(*) FROM gateway_logs WHERE account = ? AND gateway = ?", key).fetchone()[0])
                    overflow = count + len(batch) - maximum
                    if overflow > 0 and strategy == "DELETE_OLDEST":
                        # delete at least 0.1 % at a time, as Cloudflare does, so this is not done on every write
                        drop = max(overflow, maximum // 1000, 1)
                        count -= conn.execute(
                            "DELETE FROM gateway_logs WHERE id IN (SELECT id FROM gateway_logs WHERE account = ? AND "
                            "gateway = ? ORDER BY created_at, id LIMIT ?)", (account, gateway, drop)).rowcount
                    elif overflow > 0:  # STOP_INSERTING
                        keep = max(0, maximum - count)
                        dropped = {r.id for r in batch[keep:]}
                        records = [r for r in records if r.id not in dropped]
                        batch = batch[:keep]
                    after.append((key, count + len(batch), generation))
                conn.executemany(
                    "INSERT INTO gateway_logs (id, account, gateway, created_at, provider, model, model_type, path, "
                    "status_code, success, cached, duration, tokens_in, tokens_out, total_tokens, cost, custom_cost, "
                    "metadata, step, event_id, request_content_type, response_content_type, request_type, request_head, "
                    "response_head, request_size, response_size, feedback, score, decisions) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT DO NOTHING",  # a batch retried after a lost commit answer lands once
                    [_log_row(r, clean) for r in records],
                )
                conn.executemany(
                    "INSERT INTO gateway_log_bodies (id, request, response) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    [(r.id, r.request_body, r.response_body) for r in records
                     if r.request_body is not None or r.response_body is not None],
                )
                # every request counts in analytics, logged or not (STOP_INSERTING drops rows, not requests)
                conn.executemany(_ROLLUP_UPSERT, [tuple(clean(v) for v in row) for row in rollup_rows(counted)])
        except BaseException:
            self.log_counts.forget()  # what was counted may not have been written
            raise
        for key, count, generation in after:
            self.log_counts.keep(key, count, generation)

    def query_logs(self, account, gateway_id, query):
        where, args = _where(account, gateway_id, query, self.db.dialect)
        names = [c.strip() for c in _LOG_COLUMNS.split(",")]
        order = f"{query.order_by} {query.direction.upper()}, id {query.direction.upper()}"
        with self.db.reading() as conn:
            rows = conn.execute(
                f"SELECT {_LOG_COLUMNS} FROM gateway_logs WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                [*args, query.per_page, (query.page - 1) * query.per_page],
            ).fetchall()
            stats = conn.execute(
                "SELECT count(*), min(cost), max(cost), min(duration), max(duration), min(tokens_in), max(tokens_in),"
                f" min(tokens_out), max(tokens_out), min(total_tokens), max(total_tokens) FROM gateway_logs WHERE {where}",
                args,
            ).fetchone()
        keys = ["total_count", "min_cost", "max_cost", "min_duration", "max_duration", "min_tokens_in",
                "max_tokens_in", "min_tokens_out", "max_tokens_out", "min_total_tokens", "max_total_tokens"]
        info = {k: (v if v is not None else 0) for k, v in zip(keys, stats)}
        info.update(page=query.page, per_page=query.per_page, count=len(rows))
        return [_log_dict(r, names) for r in rows], info

    def explore_logs(self, account, gateway_id, query, before=None, scan=10_000):
        """Newest first, paged by a (created_at, id) cursor, looking at no more than the `scan` newest logs before
        the cursor: a filter that matches rarely costs one bounded step, never a scan of every log. Returns
        (rows, info): `next` is the cursor of the following step and `partial` says this step stopped at its
        budget (older logs remain to search) rather than at a full page."""
        where, args = _where(account, gateway_id, query, self.db.dialect)
        names = [c.strip() for c in _LOG_COLUMNS.split(",")]
        window, window_args = "account = ? AND gateway = ?", [account, gateway_id]
        if before is not None:
            # `created_at <= ?` on its own gives both engines an index range; the OR alone makes PostgreSQL scan
            older = " AND created_at <= ? AND (created_at < ? OR id < ?)"
            where, window = where + older, window + older
            args, window_args = [*args, before[0], before[0], before[1]], [*window_args, before[0], before[0], before[1]]
        with self.db.reading() as conn:
            floor = conn.execute(f"SELECT created_at FROM gateway_logs WHERE {window} ORDER BY created_at DESC "
                                 "LIMIT 1 OFFSET ?", [*window_args, scan]).fetchone()
            if floor is not None:
                where += " AND created_at > ?"
                args.append(floor[0])
            rows = conn.execute(f"SELECT {_LOG_COLUMNS} FROM gateway_logs WHERE {where} ORDER BY created_at DESC, "
                                "id DESC LIMIT ?", [*args, query.per_page + 1]).fetchall()
        items = [_log_dict(r, names) for r in rows[:query.per_page]]
        if len(rows) > query.per_page:
            return items, {"next": (items[-1]["created_at"], items[-1]["id"]), "partial": False}
        if floor is not None:  # "~" sorts after every ULID: the next step starts with the logs at `floor`
            return items, {"next": (floor[0], "~"), "partial": True, "searched_to": floor[0]}
        return items, {"next": None, "partial": False}

    def get_log(self, account, gateway_id, log_id):
        names = [c.strip() for c in (_LOG_COLUMNS + ", " + _DETAIL_COLUMNS).split(",")]
        with self.db.reading() as conn:
            row = conn.execute(
                f"SELECT {_LOG_COLUMNS}, {_DETAIL_COLUMNS} FROM gateway_logs WHERE account = ? AND gateway = ? AND id = ?",
                (account, gateway_id, log_id),
            ).fetchone()
        if row is None:
            return None
        item = _log_dict(row, names)
        item["request_head"] = json.loads(item["request_head"] or "{}")
        item["response_head"] = json.loads(item["response_head"] or "{}")
        return item

    def log_body(self, account, gateway_id, log_id, which):
        column = "request" if which == "request" else "response"
        with self.db.reading() as conn:
            row = conn.execute(
                f"SELECT b.{column} FROM gateway_log_bodies b JOIN gateway_logs l ON l.id = b.id"
                " WHERE l.account = ? AND l.gateway = ? AND l.id = ?", (account, gateway_id, log_id)).fetchone()
        return row[0] if row else None

    def patch_log(self, account, gateway_id, log_id, changes):
        sets, args = [], []
        for key in ("feedback", "score"):
            if key in changes:
                sets.append(f"{key} = ?")
                args.append(changes[key])
        if "metadata" in changes:
            sets.append("metadata = ?")
            args.append(_json(changes["metadata"] or {}))  # compact, as the log writer writes it
        if not sets:
            return self.get_log(account, gateway_id, log_id) is not None
        with self.db.transaction() as conn:
            cur = conn.execute(f"UPDATE gateway_logs SET {', '.join(sets)} WHERE account = ? AND gateway = ? AND id = ?",
                               [*args, account, gateway_id, log_id])
            return cur.rowcount == 1

    def delete_logs(self, account, gateway_id, query):
        where, args = _where(account, gateway_id, query, self.db.dialect)
        order = f"{query.order_by} {query.direction.upper()}"
        limit = f" ORDER BY {order} LIMIT {int(query.limit)}" if query.limit else ""
        with self.db.transaction() as conn:  # one statement: a filter may match millions
            deleted = conn.execute(f"DELETE FROM gateway_logs WHERE id IN (SELECT id FROM gateway_logs WHERE {where}"
                                   f"{limit})", args).rowcount
        self.log_counts.forget((account, gateway_id))
        return deleted

    def rollups(self, account, gateway_id, grain, since, group_by_day=False):
        """Analytics rows [(bucket, provider, model, Rollup)] from `since` (a bucket label) on. `grain` is 'minute'
        or 'hour'; `group_by_day` adds hours up into days."""
        columns = ", ".join(ADDED_COLUMNS)
        where = "account = ? AND gateway = ? AND grain = ? AND bucket >= ?"
        if group_by_day:
            # integer sums cast back from PostgreSQL's numeric: Decimals cost more to read than the query takes
            sums = ", ".join("sum(cost)" if c == "cost" else f"CAST(sum({c}) AS BIGINT)" for c in ADDED_COLUMNS)
            sql = (f"SELECT substr(bucket, 1, 10) AS b, provider, model, {sums} FROM gateway_rollups WHERE {where}"
                   " GROUP BY substr(bucket, 1, 10), provider, model")
        else:  # one row per (bucket, provider, model) already: summing would only cost time
            sql = f"SELECT bucket, provider, model, {columns} FROM gateway_rollups WHERE {where}"
        with self.db.reading() as conn:
            rows = conn.execute(sql, (account, gateway_id, grain, since[:GRAINS[grain]])).fetchall()
        out = []
        for b, provider, model, requests, errors, cached, tin, tout, cost, dsum, *hist in rows:
            out.append((b, provider, model, Rollup(int(requests), int(errors), int(cached), int(tin), int(tout),
                                                   float(cost), int(dsum), list(hist))))
        return out

    # ---- dynamic routes ------------------------------------------------------------------------
    def _route(self, conn, row) -> dict[str, Any]:
        account, gateway, rid, name, version, created, modified = row
        elements = conn.execute("SELECT elements FROM gateway_route_versions WHERE route_id = ? AND version = ?",
                                (rid, version)).fetchone()[0]
        return {"id": rid, "name": name, "version": version, "elements": json.loads(elements),
                "created_at": created, "modified_at": modified}

    def save_route(self, account, gateway, route_id, name, elements, now):
        """Create the route, or add a version and deploy it; returns the route."""
        with self.db.transaction() as conn:
            row = conn.execute("SELECT version FROM gateway_routes WHERE account = ? AND gateway = ? AND id = ?",
                               (account, gateway, route_id)).fetchone()
            version = (row[0] + 1) if row else 1
            conn.execute("INSERT INTO gateway_route_versions (route_id, version, elements, created_at) VALUES (?, ?, ?, ?)",
                         (route_id, version, json.dumps(elements), now))
            if row:
                conn.execute("UPDATE gateway_routes SET name = ?, version = ?, modified_at = ? WHERE account = ? AND "
                             "gateway = ? AND id = ?", (name, version, now, account, gateway, route_id))
            else:
                conn.execute("INSERT INTO gateway_routes VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (account, gateway, route_id, name, version, now, now))
            full = conn.execute("SELECT * FROM gateway_routes WHERE account = ? AND gateway = ? AND id = ?",
                                (account, gateway, route_id)).fetchone()
            return self._route(conn, full)

    def get_route(self, account, gateway, key, by="id"):
        column = "id" if by == "id" else "name"
        with self.db.reading() as conn:
            row = conn.execute(f"SELECT * FROM gateway_routes WHERE account = ? AND gateway = ? AND {column} = ?",
                               (account, gateway, key)).fetchone()
            return self._route(conn, row) if row else None

    def list_routes(self, account, gateway):
        with self.db.reading() as conn:
            rows = conn.execute("SELECT * FROM gateway_routes WHERE account = ? AND gateway = ? ORDER BY created_at",
                                (account, gateway)).fetchall()
            return [self._route(conn, r) for r in rows]

    def route_versions(self, route_id):
        with self.db.reading() as conn:
            rows = conn.execute("SELECT version, elements, created_at FROM gateway_route_versions WHERE route_id = ?"
                                " ORDER BY version", (route_id,)).fetchall()
        return [{"version": v, "elements": json.loads(e), "created_at": c} for v, e, c in rows]

    def delete_route(self, account, gateway, route_id):
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM gateway_route_versions WHERE route_id = ?", (route_id,))
            return conn.execute("DELETE FROM gateway_routes WHERE account = ? AND gateway = ? AND id = ?",
                                (account, gateway, route_id)).rowcount == 1

    def close(self):
        self.db.close()
