"""call records: interactions, their legs (numbers encrypted, rating attributes in clear) and recordings

Revision ID: 0011
Revises: 0007
Create Date: 2026-12-01 09:23:08.200615
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "interactions",
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=True),
        sa.Column("queue_id", sa.Uuid(), nullable=True),
        sa.Column("flow_id", sa.Uuid(), nullable=True),
        sa.Column("entry_point", sa.String(length=80), nullable=False),
        sa.Column("ivr_path", sa.JSON(), nullable=False),
        sa.Column("disposition", sa.String(length=64), nullable=False),
        sa.Column("notes_ct", sa.LargeBinary(), nullable=True),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("queue_wait_ms", sa.Integer(), nullable=False),
        sa.Column("ring_ms", sa.Integer(), nullable=False),
        sa.Column("talk_ms", sa.Integer(), nullable=False),
        sa.Column("hold_ms", sa.Integer(), nullable=False),
        sa.Column("wrap_ms", sa.Integer(), nullable=False),
        sa.Column("hangup_cause", sa.String(length=24), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_interactions_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interactions")),
    )
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_interactions_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_interactions_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_interactions_tenant_offered_at", ["tenant_id", "offered_at"], unique=False)

    op.create_table(
        "interaction_legs",
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("call_id", sa.String(length=80), nullable=False),
        sa.Column("party", sa.String(length=12), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("remote_number_ct", sa.LargeBinary(), nullable=True),
        sa.Column("remote_number_bidx", sa.LargeBinary(length=32), nullable=True),
        sa.Column("local_number_ct", sa.LargeBinary(), nullable=True),
        sa.Column("destination_type", sa.String(length=24), nullable=False),
        sa.Column("destination_prefix", sa.String(length=16), nullable=False),
        sa.Column("trunk", sa.String(length=64), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("billable_ms", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("held_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hold_ms", sa.Integer(), nullable=False),
        sa.Column("hangup_cause", sa.String(length=24), nullable=False),
        sa.Column("sip_code", sa.Integer(), nullable=True),
        sa.Column("monitor_mode", sa.String(length=8), nullable=False),
        sa.Column("recording_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_interaction_legs_interaction_id_interactions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_interaction_legs_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interaction_legs")),
    )
    with op.batch_alter_table("interaction_legs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_interaction_legs_interaction_id"), ["interaction_id"], unique=False)
        batch_op.create_index("ix_interaction_legs_tenant_ended_at", ["tenant_id", "ended_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_interaction_legs_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(
            "ix_interaction_legs_tenant_remote_bidx", ["tenant_id", "remote_number_bidx"], unique=False
        )

    op.create_table(
        "recordings",
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("leg_id", sa.Uuid(), nullable=True),
        sa.Column("engine_recording_id", sa.String(length=80), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("stored_bytes", sa.BigInteger(), nullable=False),
        sa.Column("stored_sha256", sa.String(length=64), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("storage_path", sa.String(length=500), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_recordings_interaction_id_interactions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["leg_id"], ["interaction_legs.id"], name=op.f("fk_recordings_leg_id_interaction_legs"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_recordings_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
    )
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recordings_interaction_id"), ["interaction_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_recordings_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recordings_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_recordings_interaction_id"))

    op.drop_table("recordings")
    with op.batch_alter_table("interaction_legs", schema=None) as batch_op:
        batch_op.drop_index("ix_interaction_legs_tenant_remote_bidx")
        batch_op.drop_index(batch_op.f("ix_interaction_legs_tenant_id"))
        batch_op.drop_index("ix_interaction_legs_tenant_ended_at")
        batch_op.drop_index(batch_op.f("ix_interaction_legs_interaction_id"))

    op.drop_table("interaction_legs")
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_index("ix_interactions_tenant_offered_at")
        batch_op.drop_index(batch_op.f("ix_interactions_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_interactions_campaign_id"))

    op.drop_table("interactions")
