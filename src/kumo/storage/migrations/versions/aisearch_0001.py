"""AI Search: namespaces, instances, items (uploaded bytes kept as a blob), chunks and their keyword index,
indexing jobs (with a lease, so several nodes can tell a live job from one whose node died) and logs.

The keyword index is the one part that differs: on SQLite an FTS5 table (porter stemming, BM25) whose rowid
is the chunk's pk; on PostgreSQL a `tsvector` column of the chunk with a GIN index. Tables that already exist
(data dirs made before alembic, whose file still carries the old `PRAGMA user_version`) are kept; only what
they lack is added.
"""

import sqlalchemy as sa
from alembic import op

revision = "aisearch_0001"
down_revision = None
branch_labels = ("aisearch",)
depends_on = None


def _serial_pk() -> sa.Column:
    return sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True)


def upgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    postgres = bind.dialect.name == "postgresql"
    if "aisearch_namespaces" not in existing:
        op.create_table(
            "aisearch_namespaces",
            sa.Column("account", sa.Text, nullable=False),
            sa.Column("name", sa.Text, nullable=False),
            sa.Column("description", sa.Text),
            sa.Column("created_at", sa.Text, nullable=False),
            sa.PrimaryKeyConstraint("account", "name"),
        )
    if "aisearch_instances" not in existing:
        op.create_table(
            "aisearch_instances",
            _serial_pk(),
            sa.Column("account", sa.Text, nullable=False),
            sa.Column("namespace", sa.Text, nullable=False),
            sa.Column("id", sa.Text, nullable=False),
            sa.Column("config", sa.Text, nullable=False),
            sa.Column("vector_index", sa.Text),  # name of the Vectorize index kumo manages for it (same account)
            sa.Column("created_at", sa.Text, nullable=False),
            sa.Column("modified_at", sa.Text, nullable=False),
            sa.Column("last_activity", sa.Text),
            sa.UniqueConstraint("account", "namespace", "id"),
            sqlite_autoincrement=True,
        )
    if "aisearch_items" not in existing:
        op.create_table(
            "aisearch_items",
            _serial_pk(),
            sa.Column("instance_pk", sa.Integer, sa.ForeignKey("aisearch_instances.pk", ondelete="CASCADE"),
                      nullable=False),
            sa.Column("id", sa.Text, nullable=False, unique=True),
            sa.Column("key", sa.Text, nullable=False),
            sa.Column("source_id", sa.Text, nullable=False),
            sa.Column("checksum", sa.Text, nullable=False),
            sa.Column("status", sa.Text, nullable=False),
            sa.Column("error", sa.Text),
            sa.Column("file_size", sa.Integer, nullable=False),
            sa.Column("chunks_count", sa.Integer, nullable=False, server_default="0"),
            sa.Column("metadata", sa.Text, nullable=False),
            sa.Column("index_signature", sa.Text),
            sa.Column("content", sa.LargeBinary),
            sa.Column("created_at", sa.Text, nullable=False),
            sa.Column("last_seen_at", sa.Text, nullable=False),
            sa.UniqueConstraint("instance_pk", "key"),
            sqlite_autoincrement=True,
        )
    if "aisearch_chunks" not in existing:
        op.create_table(
            "aisearch_chunks",
            _serial_pk(),
            sa.Column("instance_pk", sa.Integer, nullable=False),
            sa.Column("item_pk", sa.Integer, sa.ForeignKey("aisearch_items.pk", ondelete="CASCADE"), nullable=False),
            sa.Column("chunk_id", sa.Text, nullable=False, unique=True),  # also the vector's id in Vectorize
            sa.Column("position", sa.Integer, nullable=False),
            sa.Column("text", sa.Text, nullable=False),
            sa.Column("start_byte", sa.Integer, nullable=False),
            sa.Column("end_byte", sa.Integer, nullable=False),
            sqlite_autoincrement=True,
        )
        op.create_index("aisearch_chunks_item", "aisearch_chunks", ["item_pk", "position"])
    if postgres:
        # NULL when the instance has no keyword index; filled with to_tsvector('english', text) otherwise
        op.execute("ALTER TABLE aisearch_chunks ADD COLUMN IF NOT EXISTS keywords tsvector")
        op.execute("CREATE INDEX IF NOT EXISTS aisearch_chunks_keywords ON aisearch_chunks USING gin (keywords)")
        op.execute("CREATE INDEX IF NOT EXISTS aisearch_chunks_instance ON aisearch_chunks (instance_pk)")
    elif "aisearch_fts" not in existing:
        op.execute("CREATE VIRTUAL TABLE aisearch_fts USING fts5 (text, tokenize = 'porter unicode61')")
    if "aisearch_jobs" not in existing:
        op.create_table(
            "aisearch_jobs",
            _serial_pk(),
            sa.Column("instance_pk", sa.Integer, sa.ForeignKey("aisearch_instances.pk", ondelete="CASCADE"),
                      nullable=False),
            sa.Column("id", sa.Text, nullable=False, unique=True),
            sa.Column("source", sa.Text, nullable=False),
            sa.Column("description", sa.Text),
            sa.Column("started_at", sa.Text),
            sa.Column("ended_at", sa.Text),
            sa.Column("end_reason", sa.Text),
            sa.Column("last_seen_at", sa.Text),
            sqlite_autoincrement=True,
        )
    columns = {c["name"] for c in sa.inspect(bind).get_columns("aisearch_jobs")}
    if "lease_until" not in columns:
        # an unfinished job of a data dir made before leases was cut by that kumo's end
        op.execute("UPDATE aisearch_jobs SET ended_at = coalesce(last_seen_at, started_at),"
                   " end_reason = 'interrupted' WHERE ended_at IS NULL")
        op.add_column("aisearch_jobs", sa.Column("lease_until", sa.Float))  # NULL: embedded (one process)
        op.add_column("aisearch_jobs", sa.Column("cancel_requested", sa.Integer, nullable=False, server_default="0"))
    indexes = {i["name"] for i in sa.inspect(bind).get_indexes("aisearch_jobs")}
    if "aisearch_jobs_one_open" not in indexes:
        # at most one unfinished job per instance, whichever node starts it
        op.create_index("aisearch_jobs_one_open", "aisearch_jobs", ["instance_pk"], unique=True,
                        sqlite_where=sa.text("ended_at IS NULL"), postgresql_where=sa.text("ended_at IS NULL"))
    if "aisearch_job_logs" not in existing:
        op.create_table(
            "aisearch_job_logs",
            _serial_pk(),
            sa.Column("job_pk", sa.Integer, sa.ForeignKey("aisearch_jobs.pk", ondelete="CASCADE"), nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("message", sa.Text, nullable=False),
            sa.Column("message_type", sa.Integer, nullable=False),
            sqlite_autoincrement=True,
        )
        op.create_index("aisearch_job_logs_job", "aisearch_job_logs", ["job_pk", "pk"])
    if "aisearch_item_logs" not in existing:
        op.create_table(
            "aisearch_item_logs",
            _serial_pk(),
            sa.Column("instance_pk", sa.Integer, sa.ForeignKey("aisearch_instances.pk", ondelete="CASCADE"),
                      nullable=False),
            sa.Column("item_id", sa.Text, nullable=False),
            sa.Column("action", sa.Text, nullable=False),
            sa.Column("file_key", sa.Text, nullable=False),
            sa.Column("chunk_count", sa.Integer),
            sa.Column("error_type", sa.Text),
            sa.Column("message", sa.Text),
            sa.Column("processing_time_ms", sa.Integer),
            sa.Column("timestamp", sa.Text, nullable=False),
            sqlite_autoincrement=True,
        )
        op.create_index("aisearch_item_logs_item", "aisearch_item_logs", ["instance_pk", "item_id", "pk"])
