"""The gateway's embedded response cache (SQLite only: scaled out, the cache lives in Redis)."""

import sqlalchemy as sa
from alembic import op

revision = "cache_0001"
down_revision = None
branch_labels = ("cache",)
depends_on = None


def upgrade() -> None:
    if "cache" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "cache",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("headers", sa.Text, nullable=False),
        sa.Column("chunks", sa.LargeBinary, nullable=False),
        sa.Column("lengths", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("stored_at", sa.Float, nullable=False),
    )
    op.create_index("cache_by_age", "cache", ["stored_at"])
