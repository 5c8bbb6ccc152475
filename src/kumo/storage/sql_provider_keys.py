"""Stored provider keys (BYOK) in SQL (SQLite or PostgreSQL). Rows hold ciphertext and a preview only;
encrypting and decrypting is the gateway's (kumo.gateway.controls.byok)."""

from __future__ import annotations

from typing import Any

_COLUMNS = ("id, account, gateway, provider_slug, alias, default_config, ciphertext, secret_preview, rate_limit, "
            "rate_limit_period, modified_at")
_NAMES = [c.strip() for c in _COLUMNS.split(",")]


def _row(row: tuple) -> dict[str, Any]:
    item = dict(zip(_NAMES, row))
    item["default_config"] = bool(item["default_config"])
    return item


class SqlProviderKeyStore:
    def __init__(self, db):
        self.db = db

    def save(self, row: dict[str, Any]) -> dict[str, Any]:
        """Store a key; the same provider and alias again replaces it (a rotation). Only one default per
        provider."""
        with self.db.transaction() as conn:
            old = conn.execute("SELECT id FROM gateway_provider_keys WHERE account = ? AND gateway = ? AND "
                               "provider_slug = ? AND alias = ?",
                               (row["account"], row["gateway"], row["provider_slug"], row["alias"])).fetchone()
            if old:
                row = {**row, "id": old[0]}
                conn.execute("DELETE FROM gateway_provider_keys WHERE id = ?", (old[0],))
            if row["default_config"]:
                conn.execute("UPDATE gateway_provider_keys SET default_config = 0 WHERE account = ? AND gateway = ? "
                             "AND provider_slug = ?", (row["account"], row["gateway"], row["provider_slug"]))
            conn.execute(f"INSERT INTO gateway_provider_keys ({_COLUMNS}) VALUES ({', '.join('?' * len(_NAMES))})",
                         tuple(int(row[n]) if n == "default_config" else row[n] for n in _NAMES))
        return row

    def list(self, account: str, gateway: str) -> list[dict[str, Any]]:
        with self.db.reading() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM gateway_provider_keys WHERE account = ? AND gateway = ? "
                                "ORDER BY provider_slug, alias", (account, gateway)).fetchall()
        return [_row(r) for r in rows]

    def delete(self, account: str, gateway: str, key_id: str) -> bool:
        with self.db.transaction() as conn:
            cur = conn.execute("DELETE FROM gateway_provider_keys WHERE account = ? AND gateway = ? AND id = ?",
                               (account, gateway, key_id))
            return cur.rowcount == 1

    def delete_gateway(self, account: str, gateway: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM gateway_provider_keys WHERE account = ? AND gateway = ?", (account, gateway))
