"""import jobs, do-not-call entries (institution, campaign and global) and consent records

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 08:39:37.960183
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dnc_global_entries",
        sa.Column("phone_masked", sa.String(length=32), nullable=False),
        sa.Column("phone_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.Column("all_purposes", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("added_by", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dnc_global_entries")),
    )
    with op.batch_alter_table("dnc_global_entries", schema=None) as batch_op:
        batch_op.create_index("ix_dnc_global_entries_phone_bidx", ["phone_bidx"], unique=False)

    op.create_table(
        "consent_records",
        sa.Column("phone_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.Column("phone_ct", sa.LargeBinary(), nullable=False),
        sa.Column("purpose", sa.String(length=24), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("evidence_ref", sa.String(length=200), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_consent_records_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_records")),
    )
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_records_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_consent_records_tenant_phone_bidx", ["tenant_id", "phone_bidx"], unique=False)

    op.create_table(
        "dnc_entries",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=True),
        sa.Column("phone_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.Column("phone_ct", sa.LargeBinary(), nullable=False),
        sa.Column("all_purposes", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("added_by", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_dnc_entries_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dnc_entries")),
    )
    with op.batch_alter_table("dnc_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dnc_entries_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_dnc_entries_tenant_phone_bidx", ["tenant_id", "phone_bidx"], unique=False)

    op.create_table(
        "imports",
        sa.Column("list_id", sa.Uuid(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=24), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("checkpoint", sa.JSON(), nullable=True),
        sa.Column("report_path", sa.String(length=1000), nullable=False),
        sa.Column("source_path", sa.String(length=1000), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"], ["contact_lists.id"], name=op.f("fk_imports_list_id_contact_lists"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_imports_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
    )
    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.create_index("ix_imports_list_sha256", ["list_id", "file_sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_imports_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_imports_tenant_id"))
        batch_op.drop_index("ix_imports_list_sha256")

    op.drop_table("imports")
    with op.batch_alter_table("dnc_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_dnc_entries_tenant_phone_bidx")
        batch_op.drop_index(batch_op.f("ix_dnc_entries_tenant_id"))

    op.drop_table("dnc_entries")
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_records_tenant_phone_bidx")
        batch_op.drop_index(batch_op.f("ix_consent_records_tenant_id"))

    op.drop_table("consent_records")
    with op.batch_alter_table("dnc_global_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_dnc_global_entries_phone_bidx")

    op.drop_table("dnc_global_entries")
