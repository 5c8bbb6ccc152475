"""Custom models: the call log, one row per prediction call a version answered (served, or as the shadow), so
versions can be compared over recent traffic. It replaces the shadow log, whose rows move into it. The caller
key is kept only as a hash; `prediction` is JSON (a list for a many-row call, cut at 100)."""

import sqlalchemy as sa
from alembic import op

revision = "custom_models_0003"
down_revision = "custom_models_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "custom_model_calls",
        # 64-bit on PostgreSQL (a busy model passes 2^31 calls); SQLite's rowid is 64-bit as INTEGER
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),  # served | shadow
        sa.Column("paired", sa.Text),  # a shadow call: the version that served it
        sa.Column("at", sa.Float, nullable=False),  # unix seconds
        sa.Column("caller", sa.Text),  # hash of the caller key, never the key
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("latency_ms", sa.Float),
        sa.Column("outcome", sa.Text, nullable=False),  # ok | refused (4xx) | error
        sa.Column("error", sa.Text),
        sa.Column("prediction", sa.Text),
        sa.Column("agreed", sa.Integer),  # a shadow call: rows where it predicted what the served version did
    )
    op.create_index("custom_model_calls_by_model", "custom_model_calls", ["account", "name", "id"])
    op.execute("INSERT INTO custom_model_calls (account, name, version, role, paired, at, rows, latency_ms, outcome,"
               " error, agreed) SELECT account, name, shadow, 'shadow', served, at, rows, latency_ms,"
               " CASE WHEN error IS NULL THEN 'ok' ELSE 'error' END, error, agreed FROM custom_model_shadow_log")
    op.drop_index("custom_model_shadow_log_by_model", table_name="custom_model_shadow_log")
    op.drop_table("custom_model_shadow_log")
