"""vault key tables (platform-wide, no row-level security) and contacts storage (tenant-scoped)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 08:32:56.079131
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Tenant keys are provisioned by the application (it holds the master key), not here: `callvault db upgrade`
    # gives every existing tenant its keys right after the schema change.
    op.create_table(
        "tenant_key_tombstones",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("versions", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant_key_tombstones")),
    )
    op.create_table(
        "contact_lists",
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("custom_fields", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_contact_lists_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_lists")),
        sa.UniqueConstraint("tenant_id", "name", name="uq_contact_lists_tenant_name"),
    )
    with op.batch_alter_table("contact_lists", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_lists_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "tenant_keys",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kek_id", sa.String(length=64), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_tenant_keys_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("tenant_id", "purpose", "version", name=op.f("pk_tenant_keys")),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("list_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("external_ref", sa.String(length=120), nullable=True),
        sa.Column("name_ct", sa.LargeBinary(), nullable=True),
        sa.Column("id_number_ct", sa.LargeBinary(), nullable=True),
        sa.Column("id_number_bidx", sa.LargeBinary(length=32), nullable=True),
        sa.Column("card_number_ct", sa.LargeBinary(), nullable=True),
        sa.Column("custom_sensitive_ct", sa.LargeBinary(), nullable=True),
        sa.Column("custom", sa.JSON(), nullable=False),
        sa.Column("source_import_id", sa.Uuid(), nullable=True),
        sa.Column("source_line", sa.Integer(), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"], ["contact_lists.id"], name=op.f("fk_contacts_list_id_contact_lists"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_contacts_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("source_import_id", "source_line", name="uq_contacts_source_import_line"),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index("ix_contacts_list_id", ["list_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contacts_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_contacts_tenant_id_number_bidx", ["tenant_id", "id_number_bidx"], unique=False)

    op.create_table(
        "contact_phones",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("e164_ct", sa.LargeBinary(), nullable=False),
        sa.Column("e164_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.Column("type", sa.String(length=24), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_contact_phones_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_contact_phones_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_phones")),
        sa.UniqueConstraint("contact_id", "position", name="uq_contact_phones_contact_position"),
    )
    with op.batch_alter_table("contact_phones", schema=None) as batch_op:
        batch_op.create_index("ix_contact_phones_tenant_e164_bidx", ["tenant_id", "e164_bidx"], unique=False)
        batch_op.create_index(batch_op.f("ix_contact_phones_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("contact_phones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_phones_tenant_id"))
        batch_op.drop_index("ix_contact_phones_tenant_e164_bidx")

    op.drop_table("contact_phones")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_tenant_id_number_bidx")
        batch_op.drop_index(batch_op.f("ix_contacts_tenant_id"))
        batch_op.drop_index("ix_contacts_list_id")

    op.drop_table("contacts")
    op.drop_table("tenant_keys")
    with op.batch_alter_table("contact_lists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_lists_tenant_id"))

    op.drop_table("contact_lists")
    op.drop_table("tenant_key_tombstones")
