"""Workers AI batch jobs: a durable queue. `lease_owner`/`lease_until` let several nodes and workers
share it: a job is claimed with a lease, renewed while it runs, and taken again once a lease expires."""

import sqlalchemy as sa
from alembic import op

revision = "batches_0001"
down_revision = None
branch_labels = ("batches",)
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "ai_batch_jobs" not in existing:
        op.create_table(
            "ai_batch_jobs",
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("account", sa.Text, nullable=False),
            sa.Column("model", sa.Text, nullable=False),
            sa.Column("status", sa.Text, nullable=False),
            sa.Column("requests", sa.Text, nullable=False),
            sa.Column("responses", sa.Text),
            sa.Column("usage", sa.Text),
            sa.Column("done_count", sa.Integer, nullable=False, server_default="0"),
            sa.Column("created_at", sa.Text, nullable=False),
        )
        op.create_index("ai_batch_jobs_queue", "ai_batch_jobs", ["status", "created_at"])
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("ai_batch_jobs")}
    if "lease_owner" not in columns:
        op.add_column("ai_batch_jobs", sa.Column("lease_owner", sa.Text))
        op.add_column("ai_batch_jobs", sa.Column("lease_until", sa.Float))
