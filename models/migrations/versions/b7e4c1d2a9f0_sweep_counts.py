"""sweep counts: how often the sweeper enqueued a row again (issue 11 item 13)

Revision ID: b7e4c1d2a9f0
Revises: 9c717babffbe
Create Date: 2026-12-04 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "b7e4c1d2a9f0"
down_revision: str | None = "9c717babffbe"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("raw_message", "outbound_email", "case"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("sweeps", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("case") as batch:
        batch.add_column(sa.Column("swept_at", models.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case") as batch:
        batch.drop_column("swept_at")
    for table in ("raw_message", "outbound_email", "case"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("sweeps")
