"""Per-call latency: which HTTP call each logged prediction came from, and how many it held.

Revision ID: 0002_call_and_batch_size
Revises: 0001_predictions
Create Date: 2026-12-02

A ``/predict/batch`` call logs one row per booking, each carrying the whole call's latency. With
``call_id`` (the request id of a single prediction, the batch's id otherwise) and ``batch_size``
the Monitoring page computes latency percentiles per call, not per booking. Rows logged before
this revision were single predictions or have no call id: they count as calls of their own.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_call_and_batch_size"
down_revision = "0001_predictions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("predictions", sa.Column("call_id", sa.Text, nullable=True))
    op.add_column("predictions", sa.Column("batch_size", sa.Integer, nullable=True))


def downgrade() -> None:
    op.drop_column("predictions", "batch_size")
    op.drop_column("predictions", "call_id")
