"""sip edge: a released DID stays in the operator's inventory unassigned; offboarding counts the numbers it released

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sip_dids", schema=None) as batch_op:
        batch_op.alter_column("institution_id", existing_type=sa.Uuid(), nullable=True)
        batch_op.alter_column("entry_kind", existing_type=sa.String(length=8), nullable=True)
        batch_op.alter_column("entry", existing_type=sa.String(length=80), nullable=True)
    with op.batch_alter_table("tenant_offboardings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("numbers_released", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("tenant_offboardings", schema=None) as batch_op:
        batch_op.drop_column("numbers_released")
    # Unassigned numbers have no place in the older schema (there, a released number left the inventory).
    op.execute(sa.text("DELETE FROM sip_dids WHERE institution_id IS NULL"))
    with op.batch_alter_table("sip_dids", schema=None) as batch_op:
        batch_op.alter_column("entry", existing_type=sa.String(length=80), nullable=False)
        batch_op.alter_column("entry_kind", existing_type=sa.String(length=8), nullable=False)
        batch_op.alter_column("institution_id", existing_type=sa.Uuid(), nullable=False)
