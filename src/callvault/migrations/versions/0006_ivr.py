"""ivr: flows, flow versions, look-up signing keys

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-01 08:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ivr_flows",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("entry_point", sa.String(length=80), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_ivr_flows_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ivr_flows")),
        sa.UniqueConstraint("tenant_id", "entry_point", name="uq_ivr_flows_tenant_entry_point"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_ivr_flows_tenant_name"),
    )
    with op.batch_alter_table("ivr_flows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ivr_flows_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "ivr_flow_versions",
        sa.Column("flow_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(length=120), nullable=False),
        sa.Column("published_by", sa.String(length=120), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rolled_back_from", sa.Integer(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_id"], ["ivr_flows.id"], name=op.f("fk_ivr_flow_versions_flow_id_ivr_flows"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_ivr_flow_versions_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ivr_flow_versions")),
        sa.UniqueConstraint("flow_id", "number", name="uq_ivr_flow_versions_flow_number"),
    )
    with op.batch_alter_table("ivr_flow_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ivr_flow_versions_flow_id"), ["flow_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ivr_flow_versions_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "ivr_lookup_keys",
        sa.Column("key_id", sa.String(length=100), nullable=False),
        sa.Column("secret_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_ivr_lookup_keys_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ivr_lookup_keys")),
        sa.UniqueConstraint("tenant_id", name="uq_ivr_lookup_keys_tenant_id"),
    )
    with op.batch_alter_table("ivr_lookup_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ivr_lookup_keys_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ivr_lookup_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ivr_lookup_keys_tenant_id"))
    op.drop_table("ivr_lookup_keys")
    with op.batch_alter_table("ivr_flow_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ivr_flow_versions_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_ivr_flow_versions_flow_id"))
    op.drop_table("ivr_flow_versions")
    with op.batch_alter_table("ivr_flows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ivr_flows_tenant_id"))
    op.drop_table("ivr_flows")
