"""Batch scoring jobs over R2: a job scores an R2 dataset with a model and writes the result back to R2. It is
cut into chunks of rows; each chunk is claimed with a lease (FOR UPDATE SKIP LOCKED on PostgreSQL), scored,
and written as its own part object, and is `done` only once its part is in R2: a killed worker's chunk is
scored again, and the final object is composed from exactly one part per chunk."""

import sqlalchemy as sa
from alembic import op

revision = "custom_models_0002"
down_revision = "custom_models_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scoring_jobs",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("spec", sa.Text, nullable=False),  # JSON: model, version, input/output, columns, formats
        sa.Column("status", sa.Text, nullable=False),  # running | composing | done | failed | cancelled
        sa.Column("rows_total", sa.BigInteger, nullable=False),
        sa.Column("chunks_total", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("output_etag", sa.Text),
        sa.Column("lease_owner", sa.Text),  # who composes the output, once every chunk is done
        sa.Column("compose_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("lease_until", sa.Float),
        sa.Column("created", sa.Text, nullable=False),
        sa.Column("finished", sa.Text),
    )
    op.create_index("scoring_jobs_by_account", "scoring_jobs", ["account", "created"])
    op.create_table(
        "scoring_chunks",
        sa.Column("job_id", sa.Text, nullable=False),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("job_created", sa.Text, nullable=False),  # oldest job's chunks first
        sa.Column("start_row", sa.BigInteger, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Text, nullable=False),  # queued | running | done | dropped
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("lease_owner", sa.Text),
        sa.Column("lease_until", sa.Float),
        sa.Column("part_key", sa.Text),  # the part object holding this chunk's output, once done
        sa.PrimaryKeyConstraint("job_id", "idx"),
    )
    op.create_index("scoring_chunks_queue", "scoring_chunks", ["status", "job_created", "idx"])
