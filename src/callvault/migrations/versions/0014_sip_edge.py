"""sip edge: institutions' trunks and agent SIP endpoints, the operator's DID inventory

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _identity_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "sip_trunks",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("peer_host", sa.String(length=255), nullable=False),
        sa.Column("peer_port", sa.Integer(), nullable=False),
        sa.Column("caller_id_rule", sa.String(length=8), nullable=False),
        sa.Column("caller_id", sa.String(length=20), nullable=False),
        *_identity_columns(),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_sip_trunks_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sip_trunks")),
        sa.UniqueConstraint("tenant_id", "name", name="uq_sip_trunks_tenant_name"),
    )
    with op.batch_alter_table("sip_trunks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sip_trunks_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "sip_dids",
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("entry_kind", sa.String(length=8), nullable=False),
        sa.Column("entry", sa.String(length=80), nullable=False),
        *_identity_columns(),
        sa.ForeignKeyConstraint(
            ["institution_id"], ["tenants.id"], name=op.f("fk_sip_dids_institution_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sip_dids")),
        sa.UniqueConstraint("number", name=op.f("uq_sip_dids_number")),
    )
    with op.batch_alter_table("sip_dids", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sip_dids_institution_id"), ["institution_id"], unique=False)

    op.create_table(
        "sip_endpoints",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("ha1_ct", sa.LargeBinary(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        *_identity_columns(),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sip_endpoints_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_sip_endpoints_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sip_endpoints")),
        sa.UniqueConstraint("tenant_id", "username", name="uq_sip_endpoints_tenant_username"),
    )
    with op.batch_alter_table("sip_endpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sip_endpoints_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    for table in ("sip_endpoints", "sip_dids", "sip_trunks"):
        op.drop_table(table)
