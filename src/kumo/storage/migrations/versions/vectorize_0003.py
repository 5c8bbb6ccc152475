"""Vectorize on PostgreSQL: vector ids in byte order (`COLLATE "C"`), as `list` pages them and SQLite sorts them.
The primary key sorts by the database's collation, so each page sorted every id of the index after the cursor:
listing a million vectors, or AI Search's orphan check on each sync, sorted ~N²/1000 ids. Nothing changes on
SQLite, whose primary key is in byte order already."""

from alembic import op

revision = "vectorize_0003"
down_revision = "vectorize_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute('CREATE INDEX IF NOT EXISTS vectorize_vectors_by_id_bytes ON vectorize_vectors'
               ' (index_pk, (id COLLATE "C"))')


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS vectorize_vectors_by_id_bytes")
