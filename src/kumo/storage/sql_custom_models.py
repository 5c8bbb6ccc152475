"""Custom models' registry in SQL (SQLite embedded, PostgreSQL scaled out): every node reads the same
names, versions and served version, so a promotion reaches all of them without a restart."""

from __future__ import annotations

import json

from kumo.custom_models.registry import Conflict, CustomModel, ModelVersion
from kumo.timestamps import iso_now

_MODEL_COLUMNS = "name, served, history, created, split, shadow"
_VERSION_COLUMNS = "name, version, format, bucket, key, etag, size, trusted, signature, created"



def _model(row) -> CustomModel:
    return CustomModel(row[0], row[1], json.loads(row[2]), row[3], json.loads(row[4]) if row[4] else None, row[5])


def _version(row) -> ModelVersion:
    name, version, fmt, bucket, key, etag, size, trusted, signature, created = row
    return ModelVersion(name, version, fmt, bucket, key, etag, int(size), bool(trusted), json.loads(signature), created)


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

    def record_shadow(self, account: str, name: str, shadow: str, served: str, at: float, rows: int, agreed: int,
                      latency_ms: float | None, error: str | None) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO custom_model_shadow_log (account, name, shadow, served, at, rows, agreed,"
                         " latency_ms, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (account, name, shadow, served, at, rows, agreed, latency_ms, error))

    def shadow_log(self, account: str, name: str, limit: int) -> list[dict]:
        with self.db.reading() as conn:
            rows = conn.execute("SELECT shadow, served, at, rows, agreed, latency_ms, error FROM custom_model_shadow_log"
                                " WHERE account = ? AND name = ? ORDER BY at DESC, id DESC LIMIT ?",
                                (account, name, limit)).fetchall()
        return [{"shadow_version": r[0], "served_version": r[1], "at": r[2], "rows": r[3], "agreed": r[4],
                 "latency_ms": r[5], "error": r[6]} for r in rows]

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
            conn.execute("DELETE FROM custom_model_shadow_log WHERE account = ? AND name = ?", (account, name))
            cur = conn.execute("DELETE FROM custom_models WHERE account = ? AND name = ?", (account, name))
        return cur.rowcount == 1
