"""Custom models: a team's own models, each a name with immutable versions that point at an R2 object.
`served` is the version `/ai/run` answers with; `history` (JSON list) the versions served before it, so a
rollback returns to the previous one; `split` the weights of an A/B split between versions, `shadow` a version that gets a copy of the traffic."""

import sqlalchemy as sa
from alembic import op

revision = "custom_models_0001"
down_revision = None
branch_labels = ("custom_models",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "custom_models",
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("served", sa.Text, nullable=False),
        sa.Column("history", sa.Text, nullable=False, server_default="[]"),
        sa.Column("split", sa.Text),  # JSON {version: weight} while traffic is split, else NULL
        sa.Column("shadow", sa.Text),  # a version that gets a copy of every call, its answers only recorded
        sa.Column("created", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("account", "name"),
    )
    op.create_table(
        "custom_model_versions",
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("format", sa.Text, nullable=False),
        sa.Column("bucket", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("etag", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("trusted", sa.Boolean, nullable=False),
        sa.Column("signature", sa.Text, nullable=False),  # JSON: features, classes, task
        sa.Column("created", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("account", "name", "version"),
    )
    op.create_table(
        "custom_model_shadow_log",  # one row per call the shadow version answered (or failed) beside the served one
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("shadow", sa.Text, nullable=False),
        sa.Column("served", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("agreed", sa.Integer, nullable=False),  # rows where both versions predicted the same
        sa.Column("latency_ms", sa.Float),
        sa.Column("error", sa.Text),
    )
    op.create_index("custom_model_shadow_log_by_model", "custom_model_shadow_log", ["account", "name", "at"])
