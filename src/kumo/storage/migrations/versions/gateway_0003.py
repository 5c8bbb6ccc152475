"""AI Gateway analytics as rollups (`gateway_rollups`: per minute and per hour, provider and model, with a latency
histogram; see kumo.gateway.rollups), filled from the logs already stored; and indexes for the log explorer's
status filters, so "errors only" or "status 429" pages without scanning every log of the gateway."""

import sqlalchemy as sa
from alembic import op

revision = "gateway_0003"
down_revision = "gateway_0002"
branch_labels = None
depends_on = None

# kept here, not imported: a migration must not change when the code it once matched does
BOUNDS = (10, 25, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10000, 20000, 30000, 60000, 120000)
GRAINS = {"minute": 16, "hour": 13}


def upgrade() -> None:
    histogram = [f"h{i:02d}" for i in range(len(BOUNDS) + 1)]
    op.create_table(
        "gateway_rollups",
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("gateway", sa.Text, nullable=False),
        sa.Column("grain", sa.Text, nullable=False),
        sa.Column("bucket", sa.Text, nullable=False),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("errors", sa.BigInteger, nullable=False),
        sa.Column("cached", sa.BigInteger, nullable=False),
        sa.Column("tokens_in", sa.BigInteger, nullable=False),
        sa.Column("tokens_out", sa.BigInteger, nullable=False),
        sa.Column("cost", sa.Float, nullable=False),
        sa.Column("duration_sum", sa.BigInteger, nullable=False),
        *[sa.Column(name, sa.BigInteger, nullable=False, server_default="0") for name in histogram],
        sa.PrimaryKeyConstraint("account", "gateway", "grain", "bucket", "provider", "model"),
        sqlite_with_rowid=False,  # rows stored in key order: a window's rows are read in one sweep
    )
    cases = []
    for i, name in enumerate(histogram):
        low = f"duration > {BOUNDS[i - 1]}" if i else "1 = 1"
        high = f" AND duration <= {BOUNDS[i]}" if i < len(BOUNDS) else ""
        cases.append(f"sum(CASE WHEN {low}{high} THEN 1 ELSE 0 END)")
    for grain, width in GRAINS.items():
        op.execute(
            f"INSERT INTO gateway_rollups (account, gateway, grain, bucket, provider, model, requests, errors, cached,"
            f" tokens_in, tokens_out, cost, duration_sum, {', '.join(histogram)})"
            f" SELECT account, gateway, '{grain}', substr(created_at, 1, {width}), provider, model, count(*),"
            f" sum(1 - success), sum(cached), coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0),"
            f" coalesce(sum(cost), 0), coalesce(sum(duration), 0), {', '.join(cases)}"
            f" FROM gateway_logs GROUP BY account, gateway, substr(created_at, 1, {width}), provider, model")
    op.create_index("gateway_logs_by_status", "gateway_logs", ["account", "gateway", "status_code", "created_at"])
    op.create_index("gateway_logs_by_success", "gateway_logs", ["account", "gateway", "success", "created_at"])


def downgrade() -> None:
    op.drop_index("gateway_logs_by_success", "gateway_logs")
    op.drop_index("gateway_logs_by_status", "gateway_logs")
    op.drop_table("gateway_rollups")
