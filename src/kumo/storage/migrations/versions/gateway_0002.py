"""AI Gateway: stored provider keys (BYOK), one row per gateway, provider and alias. The key itself is kept only
as AES-GCM ciphertext; the key-encryption key never reaches the database."""

import sqlalchemy as sa
from alembic import op

revision = "gateway_0002"
down_revision = "gateway_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gateway_provider_keys",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("gateway", sa.Text, nullable=False),
        sa.Column("provider_slug", sa.Text, nullable=False),
        sa.Column("alias", sa.Text, nullable=False),
        sa.Column("default_config", sa.Integer, nullable=False),
        sa.Column("ciphertext", sa.Text, nullable=False),
        sa.Column("secret_preview", sa.Text, nullable=False),
        sa.Column("rate_limit", sa.Float),
        sa.Column("rate_limit_period", sa.Float),
        sa.Column("modified_at", sa.Text, nullable=False),
        sa.UniqueConstraint("account", "gateway", "provider_slug", "alias", name="gateway_provider_keys_alias"),
    )


def downgrade() -> None:
    op.drop_table("gateway_provider_keys")
