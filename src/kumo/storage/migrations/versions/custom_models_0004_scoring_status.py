"""Batch scoring: jobs by status. Workers look for a job to compose before every chunk they claim and on every
idle poll, and the metrics count the unfinished ones on every scrape; jobs are kept once done, so without it
each of those read them all."""

from alembic import op

revision = "custom_models_0004"
down_revision = "custom_models_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("scoring_jobs_by_status", "scoring_jobs", ["status", "created"])


def downgrade() -> None:
    op.drop_index("scoring_jobs_by_status", "scoring_jobs")
