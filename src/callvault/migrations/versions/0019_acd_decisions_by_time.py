"""acd: the routing decision log indexed by time (today's hourly figures, the counters and open calls at a rebuild)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 21:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("acd_routing_decisions", schema=None) as batch_op:
        batch_op.create_index("ix_acd_routing_decisions_at", ["tenant_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("acd_routing_decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_acd_routing_decisions_at")
