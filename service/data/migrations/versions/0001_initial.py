"""Users, farms, ponds and readings.

Created 2025-01-01.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from service.data.models import UTCDateTime

revision = "0001"
down_revision = None


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.UniqueConstraint("username", name="uq_users_username"),
        sa.CheckConstraint("role IN ('viewer', 'operator', 'admin')", name="ck_users_role"),
    )
    op.create_table(
        "farms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_farms"),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("location", sa.String(200), nullable=True),
        *_timestamps(),
        sa.UniqueConstraint("name", name="uq_farms_name"),
    )
    op.create_table(
        "ponds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ponds"),
        sa.Column(
            "farm_id", sa.Integer(), sa.ForeignKey("farms.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("species", sa.String(32), nullable=False),
        sa.Column("area_m2", sa.Float(), nullable=False),
        sa.Column("depth_m", sa.Float(), nullable=False),
        sa.Column("stock_count", sa.Integer(), nullable=False),
        sa.Column("mean_weight_g", sa.Float(), nullable=True),
        sa.Column("mean_length_cm", sa.Float(), nullable=True),
        sa.Column("do_threshold_mg_l", sa.Float(), nullable=True),
        *_timestamps(),
        sa.UniqueConstraint("farm_id", "name", name="uq_ponds_farm_name"),
    )
    op.create_index("ix_ponds_farm_id", "ponds", ["farm_id"])
    op.create_table(
        "readings",
        sa.Column(
            "pond_id", sa.Integer(), sa.ForeignKey("ponds.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("sensor", sa.String(32), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("pond_id", "sensor", "ts", name="pk_readings"),
        sa.CheckConstraint(
            "sensor IN ('dissolved_oxygen', 'temperature', 'ph', 'ammonia')",
            name="ck_readings_sensor",
        ),
    )
    op.create_index("ix_readings_pond_ts", "readings", ["pond_id", "ts"])


def downgrade() -> None:
    op.drop_index("ix_readings_pond_ts", table_name="readings")
    op.drop_table("readings")
    op.drop_index("ix_ponds_farm_id", table_name="ponds")
    op.drop_table("ponds")
    op.drop_table("farms")
    op.drop_table("users")
