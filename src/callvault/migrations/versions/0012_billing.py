"""billing: tariffs and trunk costs, the ledger of rated legs (unique leg id), invoices and their lines

Revision ID: 0012
Revises: 0007
Create Date: 2026-12-01 09:34:15.689308
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_invoices",
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("legs", sa.Integer(), nullable=False),
        sa.Column("issued_by", sa.String(length=200), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_billing_invoices_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_invoices")),
        sa.UniqueConstraint("tenant_id", "month", name="uq_billing_invoices_tenant_month"),
    )
    with op.batch_alter_table("billing_invoices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_invoices_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "billing_rated_legs",
        sa.Column("leg_id", sa.Uuid(), nullable=False),
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("rate_key", sa.String(length=32), nullable=False),
        sa.Column("trunk", sa.String(length=64), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("billing_month", sa.String(length=7), nullable=False),
        sa.Column("talk_seconds", sa.Integer(), nullable=False),
        sa.Column("billed_seconds", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("price", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("tariff_id", sa.Uuid(), nullable=False),
        sa.Column("cost", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("invoice_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_billing_rated_legs_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_rated_legs")),
        sa.UniqueConstraint("leg_id", name="uq_billing_rated_legs_leg_id"),
    )
    with op.batch_alter_table("billing_rated_legs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_billing_rated_legs_institution_month", ["institution_id", "billing_month"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_billing_rated_legs_invoice_id"), ["invoice_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_billing_rated_legs_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "billing_tariffs",
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("message_price", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("rates", sa.JSON(), nullable=False),
        sa.Column("monthly_fees", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_billing_tariffs_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_tariffs")),
        sa.UniqueConstraint("tenant_id", "institution_id", "valid_from", name="uq_billing_tariffs_institution_from"),
    )
    with op.batch_alter_table("billing_tariffs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_tariffs_institution_id"), ["institution_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_billing_tariffs_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "billing_trunk_costs",
        sa.Column("trunk", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("rates", sa.JSON(), nullable=False),
        sa.Column("monthly_fee", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_billing_trunk_costs_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_trunk_costs")),
        sa.UniqueConstraint("tenant_id", "trunk", "valid_from", name="uq_billing_trunk_costs_trunk_from"),
    )
    with op.batch_alter_table("billing_trunk_costs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_trunk_costs_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "billing_invoice_lines",
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["billing_invoices.id"],
            name=op.f("fk_billing_invoice_lines_invoice_id_billing_invoices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_billing_invoice_lines_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_invoice_lines")),
    )
    with op.batch_alter_table("billing_invoice_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_invoice_lines_invoice_id"), ["invoice_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_billing_invoice_lines_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("billing_invoice_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_invoice_lines_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_billing_invoice_lines_invoice_id"))

    op.drop_table("billing_invoice_lines")
    with op.batch_alter_table("billing_trunk_costs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_trunk_costs_tenant_id"))

    op.drop_table("billing_trunk_costs")
    with op.batch_alter_table("billing_tariffs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_tariffs_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_billing_tariffs_institution_id"))

    op.drop_table("billing_tariffs")
    with op.batch_alter_table("billing_rated_legs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_rated_legs_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_billing_rated_legs_invoice_id"))
        batch_op.drop_index("ix_billing_rated_legs_institution_month")

    op.drop_table("billing_rated_legs")
    with op.batch_alter_table("billing_invoices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_invoices_tenant_id"))

    op.drop_table("billing_invoices")
