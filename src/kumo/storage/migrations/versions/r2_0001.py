"""R2: buckets, objects (their rows; the bytes are blobs named by `blob`, never by the key), multipart uploads
and their parts. Keys are kept as bytes (UTF-8) so that ordering and prefix ranges are S3's byte order."""

import sqlalchemy as sa
from alembic import op

revision = "r2_0001"
down_revision = None
branch_labels = ("r2",)
depends_on = None


def _http_columns() -> list[sa.Column]:
    return [
        sa.Column("content_type", sa.Text),
        sa.Column("content_language", sa.Text),
        sa.Column("content_disposition", sa.Text),
        sa.Column("content_encoding", sa.Text),
        sa.Column("cache_control", sa.Text),
        sa.Column("expires", sa.Text),
        sa.Column("custom_metadata", sa.Text, nullable=False, server_default="{}"),  # JSON object
        sa.Column("storage_class", sa.Text, nullable=False, server_default="Standard"),
    ]


def upgrade() -> None:
    op.create_table(
        "r2_buckets",
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("storage_class", sa.Text, nullable=False),
        sa.Column("created", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("account", "name"),
    )
    op.create_table(
        "r2_objects",
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("bucket", sa.Text, nullable=False),
        sa.Column("key", sa.LargeBinary, nullable=False),
        sa.Column("blob", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("etag", sa.Text, nullable=False),
        sa.Column("uploaded", sa.Text, nullable=False),
        sa.Column("checksums", sa.Text, nullable=False, server_default="{}"),  # JSON: algorithm -> base64
        *_http_columns(),
        sa.PrimaryKeyConstraint("account", "bucket", "key"),
    )
    op.create_index("r2_objects_blob", "r2_objects", ["blob"])
    op.create_table(
        "r2_uploads",
        sa.Column("upload_id", sa.Text, primary_key=True),
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("bucket", sa.Text, nullable=False),
        sa.Column("key", sa.LargeBinary, nullable=False),
        sa.Column("initiated", sa.Text, nullable=False),
        sa.Column("checksum_algorithm", sa.Text),
        *_http_columns(),
    )
    op.create_index("r2_uploads_key", "r2_uploads", ["account", "bucket", "key", "initiated"])
    op.create_table(
        "r2_parts",
        sa.Column("upload_id", sa.Text, sa.ForeignKey("r2_uploads.upload_id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("blob", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("etag", sa.Text, nullable=False),
        sa.Column("uploaded", sa.Text, nullable=False),
        sa.Column("checksums", sa.Text, nullable=False, server_default="{}"),
        sa.PrimaryKeyConstraint("upload_id", "number"),
    )
    op.create_index("r2_parts_blob", "r2_parts", ["blob"])


def downgrade() -> None:
    for table in ("r2_parts", "r2_uploads", "r2_objects", "r2_buckets"):
        op.drop_table(table)
