"""Vectorize: indexes, vectors, metadata indexes.

On SQLite a vector's values are a float32 blob; on PostgreSQL they are a pgvector `vector` column
(any dimension: each index gets its own partial HNSW index over a cast, made when the index is created).
Tables that already exist (data dirs made before alembic) are kept as they are.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "vectorize_0001"
down_revision = None
branch_labels = ("vectorize",)
depends_on = None

JSON_TEXT = sa.Text().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    if "vectorize_indexes" not in existing:
        op.create_table(
            "vectorize_indexes",
            sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("account", sa.Text, nullable=False),
            sa.Column("name", sa.Text, nullable=False),
            sa.Column("description", sa.Text),
            sa.Column("dimensions", sa.Integer, nullable=False),
            sa.Column("metric", sa.Text, nullable=False),
            sa.Column("preset", sa.Text),
            sa.Column("created_on", sa.Text, nullable=False),
            sa.Column("modified_on", sa.Text, nullable=False),
            sa.Column("mutation_id", sa.Text),
            sa.Column("mutation_at", sa.Text),
            sa.Column("seq", sa.Integer, nullable=False, server_default="0"),
            sa.UniqueConstraint("account", "name"),
            sqlite_autoincrement=True,  # a deleted index's pk is never reused (graph snapshots are keyed by it)
        )
    if "vectorize_vectors" not in existing:
        op.create_table(
            "vectorize_vectors",
            sa.Column("index_pk", sa.Integer, sa.ForeignKey("vectorize_indexes.pk", ondelete="CASCADE"),
                      nullable=False),
            sa.Column("id", sa.Text, nullable=False),
            sa.Column("namespace", sa.Text),
            sa.Column("vals", sa.LargeBinary, nullable=False),
            sa.Column("metadata", JSON_TEXT),
            sa.Column("seq", sa.Integer, nullable=False),
            sa.PrimaryKeyConstraint("index_pk", "id"),
            sqlite_with_rowid=False,
        )
        if postgres:
            op.execute("ALTER TABLE vectorize_vectors DROP COLUMN vals, ADD COLUMN embedding vector NOT NULL")
            op.execute("CREATE INDEX vectorize_vectors_by_namespace ON vectorize_vectors (index_pk, namespace)")
    if "vectorize_metadata_indexes" not in existing:
        op.create_table(
            "vectorize_metadata_indexes",
            sa.Column("index_pk", sa.Integer, sa.ForeignKey("vectorize_indexes.pk", ondelete="CASCADE"),
                      nullable=False),
            sa.Column("property_name", sa.Text, nullable=False),
            sa.Column("index_type", sa.Text, nullable=False),
            sa.Column("created_seq", sa.Integer, nullable=False),
            sa.PrimaryKeyConstraint("index_pk", "property_name"),
        )
