"""contacts: a contact list's purpose (existing lists: marketing, the strictest)

Revision ID: 0013
Revises: 0007
Create Date: 2026-12-01 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contact_lists", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purpose", sa.String(length=24), server_default="marketing", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("contact_lists", schema=None) as batch_op:
        batch_op.drop_column("purpose")
