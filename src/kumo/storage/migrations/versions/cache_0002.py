"""The gateway's embedded response cache: an index on `expires_at`. A put that takes the cache over its size
deletes the expired entries first; without the index that read every row, entries' bodies included, on each
such put once the cache was full."""

from alembic import op

revision = "cache_0002"
down_revision = "cache_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("cache_by_expiry", "cache", ["expires_at"])


def downgrade() -> None:
    op.drop_index("cache_by_expiry", "cache")
