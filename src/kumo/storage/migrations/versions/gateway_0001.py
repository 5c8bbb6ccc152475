"""AI Gateway: gateways, logs (a metadata row + bodies, indexed for the logs API's filters), dynamic
routes and their versions. Tables that already exist (data dirs made before alembic) are kept."""

import sqlalchemy as sa
from alembic import op

revision = "gateway_0001"
down_revision = None
branch_labels = ("gateway",)
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "gateways" not in existing:
        op.create_table(
            "gateways",
            sa.Column("account", sa.Text, nullable=False),
            sa.Column("id", sa.Text, nullable=False),
            sa.Column("settings", sa.Text, nullable=False),
            sa.Column("created_at", sa.Text, nullable=False),
            sa.Column("modified_at", sa.Text, nullable=False),
            sa.PrimaryKeyConstraint("account", "id"),
        )
    if "gateway_logs" not in existing:
        op.create_table(
            "gateway_logs",
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("account", sa.Text, nullable=False),
            sa.Column("gateway", sa.Text, nullable=False),
            sa.Column("created_at", sa.Text, nullable=False),
            sa.Column("provider", sa.Text, nullable=False),
            sa.Column("model", sa.Text, nullable=False),
            sa.Column("model_type", sa.Text),
            sa.Column("path", sa.Text, nullable=False),
            sa.Column("status_code", sa.Integer, nullable=False),
            sa.Column("success", sa.Integer, nullable=False),
            sa.Column("cached", sa.Integer, nullable=False),
            sa.Column("duration", sa.Integer, nullable=False),
            sa.Column("tokens_in", sa.Integer),
            sa.Column("tokens_out", sa.Integer),
            sa.Column("total_tokens", sa.Integer),
            sa.Column("cost", sa.Float),
            sa.Column("custom_cost", sa.Integer, nullable=False, server_default="0"),
            sa.Column("metadata", sa.Text),
            sa.Column("step", sa.Integer),
            sa.Column("event_id", sa.Text),
            sa.Column("request_content_type", sa.Text),
            sa.Column("response_content_type", sa.Text),
            sa.Column("request_type", sa.Text),
            sa.Column("request_head", sa.Text),
            sa.Column("response_head", sa.Text),
            sa.Column("request_size", sa.Integer),
            sa.Column("response_size", sa.Integer),
            sa.Column("feedback", sa.Integer),
            sa.Column("score", sa.Float),
        )
        op.create_index("gateway_logs_by_time", "gateway_logs", ["account", "gateway", "created_at"])
        op.create_index("gateway_logs_by_provider", "gateway_logs", ["account", "gateway", "provider", "created_at"])
        op.create_index("gateway_logs_by_model", "gateway_logs", ["account", "gateway", "model", "created_at"])
        op.create_index("gateway_logs_by_event", "gateway_logs", ["account", "gateway", "event_id"])
    if "gateway_log_bodies" not in existing:
        op.create_table(
            "gateway_log_bodies",
            sa.Column("id", sa.Text, sa.ForeignKey("gateway_logs.id", ondelete="CASCADE"), primary_key=True),
            sa.Column("request", sa.LargeBinary),
            sa.Column("response", sa.LargeBinary),
        )
    if "gateway_routes" not in existing:
        op.create_table(
            "gateway_routes",
            sa.Column("account", sa.Text, nullable=False),
            sa.Column("gateway", sa.Text, nullable=False),
            sa.Column("id", sa.Text, nullable=False),
            sa.Column("name", sa.Text, nullable=False),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("created_at", sa.Text, nullable=False),
            sa.Column("modified_at", sa.Text, nullable=False),
            sa.PrimaryKeyConstraint("account", "gateway", "id"),
            sa.UniqueConstraint("account", "gateway", "name"),
        )
    if "gateway_route_versions" not in existing:
        op.create_table(
            "gateway_route_versions",
            sa.Column("route_id", sa.Text, nullable=False),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("elements", sa.Text, nullable=False),
            sa.Column("created_at", sa.Text, nullable=False),
            sa.PrimaryKeyConstraint("route_id", "version"),
        )
