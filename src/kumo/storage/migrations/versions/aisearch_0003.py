"""AI Search: indexes for what runs on a timer or per query and used to read every row of an instance.

- `aisearch_jobs (instance_pk, started_at)`: the scheduler asks every 30 s whether an instance's job started
  since its last sync; jobs are kept, so the only other index (open jobs) left it scanning them all.
- `aisearch_cache (instance_pk, expires_at)`: each cached answer deletes its instance's expired ones; the
  lookup index leads with the query's context, so that delete read every entry of the instance.
- `aisearch_chunks (instance_pk)` on SQLite, as PostgreSQL has had it: every sync's orphan check reads the
  instance's chunk ids, which read every instance's chunks."""

from alembic import op

revision = "aisearch_0003"
down_revision = "aisearch_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("aisearch_jobs_started", "aisearch_jobs", ["instance_pk", "started_at"])
    op.create_index("aisearch_cache_expiry", "aisearch_cache", ["instance_pk", "expires_at"])
    op.execute("CREATE INDEX IF NOT EXISTS aisearch_chunks_instance ON aisearch_chunks (instance_pk)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index("aisearch_chunks_instance", "aisearch_chunks")
    op.drop_index("aisearch_cache_expiry", "aisearch_cache")
    op.drop_index("aisearch_jobs_started", "aisearch_jobs")
