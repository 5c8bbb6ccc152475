"""AI Search: the trigram keyword index (`indexing_options.keyword_tokenizer: trigram`) and the similarity
cache.

Trigram index: on SQLite a second FTS5 table with FTS5's `trigram` tokenizer (substring matching, BM25); on
PostgreSQL pg_trgm's GIN index over the chunk's text, for the chunks of trigram instances (`trigram` true).
Similarity cache: answers kept per instance with their query's embedding, until `expires_at`."""

import sqlalchemy as sa
from alembic import op

revision = "aisearch_0002"
down_revision = "aisearch_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("ALTER TABLE aisearch_chunks ADD COLUMN IF NOT EXISTS trigram boolean NOT NULL DEFAULT false")
        op.execute("CREATE INDEX IF NOT EXISTS aisearch_chunks_trigram ON aisearch_chunks"
                   " USING gin (text gin_trgm_ops) WHERE trigram")
    else:
        op.execute("CREATE VIRTUAL TABLE IF NOT EXISTS aisearch_fts_trigram USING fts5 (text, tokenize = 'trigram')")
    op.create_table(
        "aisearch_cache",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("instance_pk", sa.Integer, sa.ForeignKey("aisearch_instances.pk", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("context", sa.Text, nullable=False),  # sha256 of the request without its query
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("embedding", sa.Text, nullable=False),  # JSON array, unit length
        sa.Column("response", sa.Text, nullable=False),  # JSON
        sa.Column("expires_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("aisearch_cache_lookup", "aisearch_cache", ["instance_pk", "context", "expires_at"])


def downgrade() -> None:
    op.drop_table("aisearch_cache")
