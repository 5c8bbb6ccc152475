"""AI Gateway logs: `decisions`, kumo's decision log of a request that may try several steps (the universal
endpoint, /compat): the steps tried or skipped, why each failed, what the client got. JSON text, null otherwise."""

import sqlalchemy as sa
from alembic import op

revision = "gateway_0004"
down_revision = "gateway_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("gateway_logs", sa.Column("decisions", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("gateway_logs", "decisions")
