"""Organisations: every user and farm belongs to one; existing rows join the default one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

The columns are added nullable, existing users and farms are moved into an organisation named
``default`` (created only when there is something to move), then the columns become NOT NULL
with a foreign key and an index. Farm names become unique per organisation. The downgrade
drops the organisations again; it fails (and changes nothing) if two organisations hold farms
of the same name, since names were unique across all farms before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from service.data.models import UTCDateTime, utcnow

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DEFAULT_ORGANISATION = "default"
_TENANT_TABLES = ("users", "farms")


def upgrade() -> None:
    organisations = op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_organisations"),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("name", name="uq_organisations_name"),
    )
    for table in _TENANT_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("org_id", sa.Integer(), nullable=True))

    conn = op.get_bind()
    if any(
        conn.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1")).first()  # noqa: S608 - constant
        for table in _TENANT_TABLES
    ):
        now = utcnow()
        conn.execute(
            organisations.insert().values(name=DEFAULT_ORGANISATION, created_at=now, updated_at=now)
        )
        default_id = conn.execute(
            sa.select(organisations.c.id).where(organisations.c.name == DEFAULT_ORGANISATION)
        ).scalar_one()
        for table in _TENANT_TABLES:
            conn.execute(
                sa.text(f"UPDATE {table} SET org_id = :org WHERE org_id IS NULL"),  # noqa: S608
                {"org": default_id},
            )

    with op.batch_alter_table("users") as batch:
        batch.alter_column("org_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key("fk_users_org_id", "organisations", ["org_id"], ["id"])
        batch.create_index("ix_users_org_id", ["org_id"])
    with op.batch_alter_table("farms") as batch:
        batch.alter_column("org_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key("fk_farms_org_id", "organisations", ["org_id"], ["id"])
        batch.create_index("ix_farms_org_id", ["org_id"])
        batch.drop_constraint("uq_farms_name", type_="unique")
        batch.create_unique_constraint("uq_farms_org_name", ["org_id", "name"])


def downgrade() -> None:
    with op.batch_alter_table("farms") as batch:
        batch.drop_constraint("uq_farms_org_name", type_="unique")
        batch.create_unique_constraint("uq_farms_name", ["name"])
        batch.drop_index("ix_farms_org_id")
        batch.drop_constraint("fk_farms_org_id", type_="foreignkey")
        batch.drop_column("org_id")
    with op.batch_alter_table("users") as batch:
        batch.drop_index("ix_users_org_id")
        batch.drop_constraint("fk_users_org_id", type_="foreignkey")
        batch.drop_column("org_id")
    op.drop_table("organisations")
