"""campaigns: campaigns, per-contact progress, dial attempts and blocked counts

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-01 09:17:12.228660
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("purpose", sa.String(length=24), nullable=False),
        sa.Column("list_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("dialing_mode", sa.String(length=16), nullable=False),
        sa.Column("ivr_flow_id", sa.Uuid(), nullable=True),
        sa.Column("caller_id", sa.String(length=40), nullable=False),
        sa.Column("priority_field", sa.String(length=60), nullable=True),
        sa.Column("priority_kind", sa.String(length=16), nullable=False),
        sa.Column("retry_rules", sa.JSON(), nullable=False),
        sa.Column("calling_windows", sa.JSON(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("max_lines", sa.Integer(), nullable=False),
        sa.Column("budget_minutes", sa.Integer(), nullable=True),
        sa.Column("budget_money", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column("budget_attempts_per_day", sa.Integer(), nullable=True),
        sa.Column("alert_thresholds", sa.JSON(), nullable=False),
        sa.Column("destinations", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("edited_by", sa.String(length=200), nullable=False),
        sa.Column("approved_by", sa.String(length=200), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_limits", sa.JSON(), nullable=False),
        sa.Column("paused_reason", sa.String(length=60), nullable=False),
        sa.Column("spent_seconds", sa.Integer(), nullable=False),
        sa.Column("spent_money", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("alerts_sent", sa.JSON(), nullable=False),
        sa.Column("materialised", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"], ["contact_lists.id"], name=op.f("fk_campaigns_list_id_contact_lists"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_campaigns_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("tenant_id", "name", name="uq_campaigns_tenant_name"),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaigns_list_id"), ["list_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_campaigns_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "campaign_blocked_counts",
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_blocked_counts_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_campaign_blocked_counts_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("campaign_id", "day", "reason", name=op.f("pk_campaign_blocked_counts")),
    )
    with op.batch_alter_table("campaign_blocked_counts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaign_blocked_counts_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "campaign_contacts",
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("priority_rank", sa.Double(), nullable=False),
        sa.Column("phone_position", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("outcome_counts", sa.JSON(), nullable=False),
        sa.Column("last_outcome", sa.String(length=20), nullable=False),
        sa.Column("closed_reason", sa.String(length=40), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_contacts_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_campaign_contacts_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_campaign_contacts_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_contacts")),
        sa.UniqueConstraint("campaign_id", "contact_id", name="uq_campaign_contacts_campaign_contact"),
    )
    with op.batch_alter_table("campaign_contacts", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_contacts_due", ["campaign_id", "state", "next_due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_campaign_contacts_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "dial_attempts",
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("campaign_contact_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("attempt_no", sa.Integer(), nullable=False),
        sa.Column("phone_position", sa.Integer(), nullable=False),
        sa.Column("phone_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("call_ref", sa.String(length=120), nullable=True),
        sa.Column("originated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("abandoned", sa.Boolean(), nullable=False),
        sa.Column("agent_ref", sa.String(length=120), nullable=True),
        sa.Column("keypresses", sa.String(length=40), nullable=False),
        sa.Column("billed_seconds", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_contact_id"],
            ["campaign_contacts.id"],
            name=op.f("fk_dial_attempts_campaign_contact_id_campaign_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_dial_attempts_campaign_id_campaigns"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_dial_attempts_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dial_attempts")),
        sa.UniqueConstraint("campaign_contact_id", "attempt_no", name="uq_dial_attempts_contact_attempt"),
    )
    with op.batch_alter_table("dial_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_dial_attempts_campaign_state", ["campaign_id", "state"], unique=False)
        batch_op.create_index(batch_op.f("ix_dial_attempts_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_dial_attempts_tenant_phone", ["tenant_id", "phone_bidx", "created_at"], unique=False)

    _grant_campaign_read()


def _grant_campaign_read() -> None:
    """Existing institutions' built-in admin and supervisor roles get the new `campaign.read` (as new ones do)."""
    roles = sa.table(
        "roles",
        sa.column("id", sa.Uuid()),
        sa.column("tenant_id", sa.Uuid()),
        sa.column("name", sa.String()),
        sa.column("builtin", sa.Boolean()),
        sa.column("permissions", sa.JSON()),
    )
    tenants = sa.table("tenants", sa.column("id", sa.Uuid()), sa.column("kind", sa.String()))
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(roles.c.id, roles.c.permissions)
        .join(tenants, tenants.c.id == roles.c.tenant_id)
        .where(roles.c.builtin.is_(True), roles.c.name.in_(("admin", "supervisor")), tenants.c.kind == "institution")
    ).all()
    for role_id, permissions in rows:
        if "campaign.read" not in (permissions or []):
            conn.execute(
                roles.update().where(roles.c.id == role_id).values(permissions=sorted([*permissions, "campaign.read"]))
            )


def downgrade() -> None:
    with op.batch_alter_table("dial_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_dial_attempts_tenant_phone")
        batch_op.drop_index(batch_op.f("ix_dial_attempts_tenant_id"))
        batch_op.drop_index("ix_dial_attempts_campaign_state")

    op.drop_table("dial_attempts")
    with op.batch_alter_table("campaign_contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_contacts_tenant_id"))
        batch_op.drop_index("ix_campaign_contacts_due")

    op.drop_table("campaign_contacts")
    with op.batch_alter_table("campaign_blocked_counts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_blocked_counts_tenant_id"))

    op.drop_table("campaign_blocked_counts")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaigns_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_campaigns_list_id"))

    op.drop_table("campaigns")
