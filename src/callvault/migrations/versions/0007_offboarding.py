"""offboarding: export and offboarding job rows

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenant_exports",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("out_dir", sa.String(length=1000), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_tenant_exports_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_exports")),
    )
    with op.batch_alter_table("tenant_exports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tenant_exports_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "tenant_offboardings",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_slug", sa.String(length=40), nullable=False),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.Column("export_id", sa.Uuid(), nullable=True),
        sa.Column("without_export", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("keys_destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("key_versions", sa.JSON(), nullable=False),
        sa.Column("rows_deleted", sa.JSON(), nullable=False),
        sa.Column("files_deleted", sa.Integer(), nullable=False),
        sa.Column("certificate", sa.Text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_tenant_offboardings_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_offboardings")),
        sa.UniqueConstraint("tenant_id", name="uq_tenant_offboardings_tenant"),
    )


def downgrade() -> None:
    op.drop_table("tenant_offboardings")
    with op.batch_alter_table("tenant_exports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tenant_exports_tenant_id"))
    op.drop_table("tenant_exports")
