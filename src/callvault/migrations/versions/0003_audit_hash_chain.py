"""audit hash chain

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 16:41:35.281722
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Records written before the chain existed cannot be linked into it after the fact without making the chain
    # vouch for data it never covered; no installation holds such records (this schema predates any release).
    existing = op.get_bind().execute(sa.text("SELECT count(*) FROM audit_events")).scalar()
    if existing:
        raise RuntimeError(
            f"audit_events holds {existing} records from before the hash chain; export them and upgrade a new database"
        )
    op.create_table(
        "audit_chain_heads",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("checkpoint_seq", sa.BigInteger(), nullable=False),
        sa.Column("checkpoint_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_audit_chain_heads_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_heads")),
        sa.UniqueConstraint("tenant_id", name="uq_audit_chain_heads_tenant"),
    )
    with op.batch_alter_table("audit_chain_heads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_chain_heads_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_audit_checkpoints_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
        sa.UniqueConstraint("tenant_id", "seq", name="uq_audit_checkpoints_tenant_seq"),
    )
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_checkpoints_tenant_id"), ["tenant_id"], unique=False)

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=False))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=False))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=False))
        batch_op.create_unique_constraint("uq_audit_events_tenant_seq", ["tenant_id", "seq"])


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint("uq_audit_events_tenant_seq", type_="unique")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")

    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_checkpoints_tenant_id"))

    op.drop_table("audit_checkpoints")
    with op.batch_alter_table("audit_chain_heads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_chain_heads_tenant_id"))

    op.drop_table("audit_chain_heads")
