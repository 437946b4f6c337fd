"""The prediction log: one row per prediction the API made.

Revision ID: 0001_predictions
Revises:
Create Date: 2026-11-27

Spelled out here rather than imported from ``api.prediction_table``: a migration must keep
creating the table as it was at this revision, whatever the application code becomes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001_predictions"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "predictions",
        sa.Column("request_id", sa.Text, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_name", sa.Text),
        sa.Column("model_version", sa.Text),
        # The booking fields exactly as the API validated them (JSONB: queryable by key).
        sa.Column("booking", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("cancel_probability", sa.Double, nullable=False),
        sa.Column("will_cancel", sa.Boolean, nullable=False),
        sa.Column("threshold", sa.Double, nullable=False),
        sa.Column("latency_ms", sa.Double, nullable=False),
    )
    op.create_index("ix_predictions_created_at", "predictions", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_predictions_created_at", table_name="predictions")
    op.drop_table("predictions")
