"""Forecast tasks of the asynchronous pipeline; a time zone per farm for the nightly run.

Created 2025-01-02.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from service.data.models import UTCDateTime

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("farms") as batch:
        batch.add_column(sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"))
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tasks"),
        sa.Column(
            "pond_id", sa.Integer(), sa.ForeignKey("ponds.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("dedupe_key", sa.String(80), nullable=True),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.String(1000), nullable=True),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("dedupe_key", name="uq_tasks_dedupe_key"),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'done', 'failed')", name="ck_tasks_status"
        ),
    )
    op.create_index("ix_tasks_pond_created", "tasks", ["pond_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_tasks_pond_created", table_name="tasks")
    op.drop_table("tasks")
    with op.batch_alter_table("farms") as batch:
        batch.drop_column("timezone")
