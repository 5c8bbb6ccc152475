"""Custom models' registry in SQL (SQLite embedded, PostgreSQL scaled out): every node reads the same
names, versions and served version, so a promotion reaches all of them without a restart."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from kumo.custom_models.call_log import Call
from kumo.custom_models.registry import Conflict, CustomModel, ModelVersion
from kumo.timestamps import iso_now

_MODEL_COLUMNS = "name, served, history, created, split, shadow"
_VERSION_COLUMNS = "name, version, format, bucket, key, etag, size, trusted, signature, created"
_CALL_COLUMNS = ("account, name, version, role, paired, at, caller, rows, latency_ms, outcome, error, prediction,"
                 " agreed")
_CALL_FILTERS = {"version", "role", "outcome", "caller"}



def _model(row) -> CustomModel:
    return CustomModel(row[0], row[1], json.loads(row[2]), row[3], json.loads(row[4]) if row[4] else None, row[5])


def _version(row) -> ModelVersion:
    name, version, fmt, bucket, key, etag, size, trusted, signature, created = row
    return ModelVersion(name, version, fmt, bucket, key, etag, int(size), bool(trusted), json.loads(signature), created)


def _call(row) -> dict[str, Any]:
    (id_, _, _, version, role, paired, at, caller, rows, latency, outcome, error, prediction, agreed) = row
    return {"id": int(id_), "version": version, "role": role, "served_version": paired, "at": at,
            "caller_hash": caller, "rows": rows, "latency_ms": latency, "outcome": outcome, "error": error,
            "prediction": json.loads(prediction) if prediction is not None else None, "agreed": agreed}


class SqlCustomModelStore:
    def __init__(self, db):
        self.db = db

    def add_version(self, account: str, v: ModelVersion) -> ModelVersion:
        """Insert a version, and the model itself (served = this version) when it is the first one."""
        created = iso_now()
        with self.db.transaction() as conn:
            # ON CONFLICT: two nodes registering one version at once get one row and one 409, not a 500
            cur = conn.execute(f"INSERT INTO custom_model_versions (account, {_VERSION_COLUMNS}) VALUES"
                               " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                               (account, v.name, v.version, v.format, v.bucket, v.key, v.etag, v.size, v.trusted,
                                json.dumps(v.signature), created))
            if cur.rowcount != 1:
                raise Conflict(f"version {v.version!r} of @custom/{v.name} already exists; versions are immutable,"
                               " register a new one")
            model = conn.execute("SELECT 1 FROM custom_models WHERE account = ? AND name = ?",
                                 (account, v.name)).fetchone()
            if not model:
                conn.execute("INSERT INTO custom_models (account, name, served, history, created)"
                             " VALUES (?, ?, ?, '[]', ?) ON CONFLICT DO NOTHING", (account, v.name, v.version, created))
        return ModelVersion(**{**v.__dict__, "created": created})

    def model(self, account: str, name: str) -> CustomModel | None:
        with self.db.reading() as conn:
            row = conn.execute(f"SELECT {_MODEL_COLUMNS} FROM custom_models WHERE account = ? AND name = ?",
                               (account, name)).fetchone()
        return _model(row) if row else None

    def models(self, account: str) -> list[CustomModel]:
        with self.db.reading() as conn:
            rows = conn.execute(f"SELECT {_MODEL_COLUMNS} FROM custom_models WHERE account = ? ORDER BY name",
                                (account,)).fetchall()
        return [_model(r) for r in rows]

    def set_split(self, account: str, name: str, weights: dict[str, int] | None) -> CustomModel | None:
        """Split traffic by these weights (None: stop splitting); every version must exist."""
        with self.db.transaction() as conn:
            if weights:
                known = {r[0] for r in conn.execute("SELECT version FROM custom_model_versions WHERE account = ?"
                                                    " AND name = ?", (account, name)).fetchall()}
                missing = [v for v in weights if v not in known]
                if missing:
                    from kumo.errors import NotFound

                    raise NotFound(f"@custom/{name} has no version {missing[0]!r}", code=10030)
            cur = conn.execute("UPDATE custom_models SET split = ? WHERE account = ? AND name = ?",
                               (json.dumps(weights) if weights else None, account, name))
            if cur.rowcount != 1:
                return None
        return self.model(account, name)

    def version(self, account: str, name: str, version: str) -> ModelVersion | None:
        with self.db.reading() as conn:
            row = conn.execute(f"SELECT {_VERSION_COLUMNS} FROM custom_model_versions"
                               " WHERE account = ? AND name = ? AND version = ?", (account, name, version)).fetchone()
        return _version(row) if row else None

    def versions(self, account: str, name: str) -> list[ModelVersion]:
        with self.db.reading() as conn:
            rows = conn.execute(f"SELECT {_VERSION_COLUMNS} FROM custom_model_versions WHERE account = ? AND name = ?"
                                " ORDER BY created, version", (account, name)).fetchall()
        return [_version(r) for r in rows]

    def set_served(self, account: str, name: str, version: str | None) -> CustomModel | None:
        """Promote `version` (the current one goes on the history), or with None roll back to the last one in
        the history. None if the model is gone; raises Conflict if there is nothing to roll back to."""
        with self.db.transaction() as conn:
            row = conn.execute("SELECT served, history, created FROM custom_models WHERE account = ? AND name = ?",
                               (account, name)).fetchone()
            if row is None:
                return None
            served, history = row[0], json.loads(row[1])
            if version is None:
                if not history:
                    raise Conflict(f"@custom/{name} has no earlier served version to roll back to")
                served = history.pop()
            elif version != served:
                history.append(served)
                served = version
            # a promotion or rollback decides what is served: any split ends with it
            conn.execute("UPDATE custom_models SET served = ?, history = ?, split = NULL WHERE account = ? AND name = ?",
                         (served, json.dumps(history[-100:]), account, name))
        return CustomModel(name, served, history, row[2])

    def set_shadow(self, account: str, name: str, version: str | None) -> CustomModel | None:
        with self.db.transaction() as conn:
            if version is not None and not conn.execute(
                    "SELECT 1 FROM custom_model_versions WHERE account = ? AND name = ? AND version = ?",
                    (account, name, version)).fetchone():
                from kumo.errors import NotFound

                raise NotFound(f"@custom/{name} has no version {version!r}", code=10030)
            cur = conn.execute("UPDATE custom_models SET shadow = ? WHERE account = ? AND name = ?",
                               (version, account, name))
            if cur.rowcount != 1:
                return None
        return self.model(account, name)

    # the call log (custom_models/call_log.py writes it in batches)

    def write_calls(self, calls: list[Call], trim: list[tuple[str, str]], keep: int) -> None:
        """Insert calls, then cut each model in `trim` back to its newest `keep` rows."""
        with self.db.transaction() as conn:
            conn.executemany(f"INSERT INTO custom_model_calls ({_CALL_COLUMNS}) VALUES ({', '.join('?' * 13)})",
                             [(c.account, c.name, c.version, c.role, c.paired, c.at, c.caller, c.rows, c.latency_ms,
                               c.outcome, c.error, c.prediction, c.agreed) for c in calls])
            for account, name in trim:
                edge = conn.execute("SELECT id FROM custom_model_calls WHERE account = ? AND name = ?"
                                    " ORDER BY id DESC LIMIT 1 OFFSET ?", (account, name, keep - 1)).fetchone()
                if edge:
                    conn.execute("DELETE FROM custom_model_calls WHERE account = ? AND name = ? AND id < ?",
                                 (account, name, edge[0]))

    @staticmethod
    def _where(account: str, name: str, match: dict[str, Any]) -> tuple[str, list[Any]]:
        """`match`: column -> value (version, role, outcome, caller), or a list of values, and `since`/`until`
        (unix seconds) on `at`."""
        where, params = ["account = ?", "name = ?"], [account, name]
        for column, value in match.items():
            if value is None:
                continue
            if column == "since":
                where.append("at >= ?")
            elif column == "until":
                where.append("at < ?")
            elif isinstance(value, (list, tuple)):
                where.append(f"{column} IN ({', '.join('?' * len(value))})")
                params.extend(value)
                continue
            else:
                assert column in _CALL_FILTERS
                where.append(f"{column} = ?")
            params.append(value)
        return " AND ".join(where), params

    def calls(self, account: str, name: str, match: dict[str, Any], offset: int, limit: int
              ) -> tuple[list[dict[str, Any]], int]:
        """A page of the model's calls, newest first, and how many match in all."""
        where, params = self._where(account, name, match)
        with self.db.reading() as conn:
            total = conn.execute(f"SELECT count(*) FROM custom_model_calls WHERE {where}", params).fetchone()[0]
            rows = conn.execute(f"SELECT id, {_CALL_COLUMNS} FROM custom_model_calls WHERE {where}"
                                " ORDER BY id DESC LIMIT ? OFFSET ?", (*params, limit, offset)).fetchall()
        return [_call(r) for r in rows], int(total)

    def delete_version(self, account: str, name: str, version: str) -> bool:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT served FROM custom_models WHERE account = ? AND name = ?",
                               (account, name)).fetchone()
            if row and row[0] == version:
                raise Conflict(f"version {version!r} is the one served; promote another before deleting it")
            split = conn.execute("SELECT split FROM custom_models WHERE account = ? AND name = ?",
                                 (account, name)).fetchone()
            if split and split[0] and version in json.loads(split[0]):
                raise Conflict(f"version {version!r} takes part in the traffic split; change the split first")
            shadow = conn.execute("SELECT shadow FROM custom_models WHERE account = ? AND name = ?",
                                  (account, name)).fetchone()
            if shadow and shadow[0] == version:
                raise Conflict(f"version {version!r} is the shadow version; turn the shadow off first")
            cur = conn.execute("DELETE FROM custom_model_versions WHERE account = ? AND name = ? AND version = ?",
                               (account, name, version))
        return cur.rowcount == 1

    def delete_model(self, account: str, name: str) -> bool:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM custom_model_versions WHERE account = ? AND name = ?", (account, name))
            conn.execute("DELETE FROM custom_model_calls WHERE account = ? AND name = ?", (account, name))
            cur = conn.execute("DELETE FROM custom_models WHERE account = ? AND name = ?", (account, name))
        return cur.rowcount == 1
