"""call records of the services' outbound calls: what placed them, and the request/attempt pointing to them

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=16), server_default="", nullable=False))
        batch_op.add_column(sa.Column("source_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("purpose", sa.String(length=24), server_default="", nullable=False))
        batch_op.create_unique_constraint("uq_interactions_tenant_source", ["tenant_id", "source", "source_id"])
    with op.batch_alter_table("call_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("interaction_id", sa.Uuid(), nullable=True))
    with op.batch_alter_table("dial_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("interaction_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dial_attempts", schema=None) as batch_op:
        batch_op.drop_column("interaction_id")
    with op.batch_alter_table("call_requests", schema=None) as batch_op:
        batch_op.drop_column("interaction_id")
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_constraint("uq_interactions_tenant_source", type_="unique")
        batch_op.drop_column("purpose")
        batch_op.drop_column("source_id")
        batch_op.drop_column("source")
