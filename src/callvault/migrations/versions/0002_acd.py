"""acd: queues, agents and skills, pause reasons, agent state log, routing decisions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 15:29:34.839284
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "acd_agent_state_log",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("call_id", sa.Uuid(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idle_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_acd_agent_state_log_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "seq", name=op.f("pk_acd_agent_state_log")),
    )
    with op.batch_alter_table("acd_agent_state_log", schema=None) as batch_op:
        batch_op.create_index("ix_acd_agent_state_log_agent_seq", ["tenant_id", "agent_id", "seq"], unique=False)

    op.create_table(
        "acd_agents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("display_name", sa.String(length=120), nullable=False),
        sa.Column("blended", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_acd_agents_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acd_agents")),
    )
    with op.batch_alter_table("acd_agents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_acd_agents_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "acd_pause_reasons",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_acd_pause_reasons_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acd_pause_reasons")),
        sa.UniqueConstraint("tenant_id", "code", name="uq_acd_pause_reasons_tenant_code"),
    )
    with op.batch_alter_table("acd_pause_reasons", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_acd_pause_reasons_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "acd_queues",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("requirements", sa.JSON(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("strategy", sa.String(length=20), nullable=False),
        sa.Column("max_wait_seconds", sa.Integer(), nullable=True),
        sa.Column("max_length", sa.Integer(), nullable=True),
        sa.Column("overflow", sa.String(length=16), nullable=False),
        sa.Column("overflow_queue_id", sa.Uuid(), nullable=True),
        sa.Column("service_level_seconds", sa.Integer(), nullable=False),
        sa.Column("service_level_target_pct", sa.Integer(), nullable=False),
        sa.Column("wrap_up_seconds", sa.Integer(), nullable=False),
        sa.Column("disposition_required", sa.Boolean(), nullable=False),
        sa.Column("default_handle_seconds", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["overflow_queue_id"],
            ["acd_queues.id"],
            name=op.f("fk_acd_queues_overflow_queue_id_acd_queues"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_acd_queues_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acd_queues")),
        sa.UniqueConstraint("tenant_id", "name", name="uq_acd_queues_tenant_name"),
    )
    with op.batch_alter_table("acd_queues", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_acd_queues_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "acd_routing_decisions",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("call_id", sa.Uuid(), nullable=False),
        sa.Column("queue_id", sa.Uuid(), nullable=True),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("wait_ms", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=80), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_acd_routing_decisions_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "seq", name=op.f("pk_acd_routing_decisions")),
    )
    with op.batch_alter_table("acd_routing_decisions", schema=None) as batch_op:
        batch_op.create_index("ix_acd_routing_decisions_call", ["tenant_id", "call_id"], unique=False)

    op.create_table(
        "acd_agent_skills",
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("skill", sa.String(length=60), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["acd_agents.id"], name=op.f("fk_acd_agent_skills_agent_id_acd_agents"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_acd_agent_skills_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("agent_id", "skill", name=op.f("pk_acd_agent_skills")),
    )
    with op.batch_alter_table("acd_agent_skills", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_acd_agent_skills_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("acd_agent_skills", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_acd_agent_skills_tenant_id"))

    op.drop_table("acd_agent_skills")
    with op.batch_alter_table("acd_routing_decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_acd_routing_decisions_call")

    op.drop_table("acd_routing_decisions")
    with op.batch_alter_table("acd_queues", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_acd_queues_tenant_id"))

    op.drop_table("acd_queues")
    with op.batch_alter_table("acd_pause_reasons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_acd_pause_reasons_tenant_id"))

    op.drop_table("acd_pause_reasons")
    with op.batch_alter_table("acd_agents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_acd_agents_tenant_id"))

    op.drop_table("acd_agents")
    with op.batch_alter_table("acd_agent_state_log", schema=None) as batch_op:
        batch_op.drop_index("ix_acd_agent_state_log_agent_seq")

    op.drop_table("acd_agent_state_log")
