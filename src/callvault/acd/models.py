"""ACD tables: queues, agents and their skills, pause reasons, the agent state log and the routing decision log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core import clock
from callvault.core.models import Base, Identified, TenantScoped


class AcdQueue(Identified, TenantScoped, Base):
    __tablename__ = "acd_queues"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_acd_queues_tenant_name"),)

    name: Mapped[str] = mapped_column(String(80))
    requirements: Mapped[dict[str, Any]] = mapped_column(default=dict)  # skill -> minimum level
    priority: Mapped[int] = mapped_column(default=0)
    strategy: Mapped[str] = mapped_column(String(20), default="longest_idle")
    max_wait_seconds: Mapped[int | None] = mapped_column(default=None)
    max_length: Mapped[int | None] = mapped_column(default=None)
    overflow: Mapped[str] = mapped_column(String(16), default="none")
    overflow_queue_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("acd_queues.id", ondelete="SET NULL"), default=None
    )
    service_level_seconds: Mapped[int] = mapped_column(default=20)
    service_level_target_pct: Mapped[int] = mapped_column(default=80)
    wrap_up_seconds: Mapped[int] = mapped_column(default=30)
    disposition_required: Mapped[bool] = mapped_column(default=False)
    default_handle_seconds: Mapped[int] = mapped_column(default=180)


class AcdAgent(TenantScoped, Base):
    """An agent seat. The id is the agent's user id; no foreign key, so the logs outlive a deleted user."""

    __tablename__ = "acd_agents"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    display_name: Mapped[str] = mapped_column(String(120), default="")
    blended: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class AcdAgentSkill(TenantScoped, Base):
    __tablename__ = "acd_agent_skills"

    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("acd_agents.id", ondelete="CASCADE"), primary_key=True)
    skill: Mapped[str] = mapped_column(String(60), primary_key=True)
    level: Mapped[int] = mapped_column()


class AcdPauseReason(Identified, TenantScoped, Base):
    __tablename__ = "acd_pause_reasons"
    __table_args__ = (UniqueConstraint("tenant_id", "code", name="uq_acd_pause_reasons_tenant_code"),)

    code: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(120), default="")


def _log_tenant() -> Mapped[uuid.UUID]:
    # Part of the log's primary key, so the mixin's separate tenant index would only slow the inserts down.
    return mapped_column(Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)


class AcdAgentStateChange(TenantScoped, Base):
    """Append-only agent state log; the newest row per agent is the agent's state at a rebuild.

    Keyed by the owner's sequence number: one owner per tenant writes it, and a second one would collide."""

    __tablename__ = "acd_agent_state_log"
    __table_args__ = (Index("ix_acd_agent_state_log_agent_seq", "tenant_id", "agent_id", "seq"),)

    tenant_id: Mapped[uuid.UUID] = _log_tenant()
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(40), default="")
    call_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    at: Mapped[datetime] = mapped_column()
    idle_since: Mapped[datetime | None] = mapped_column(default=None)


class AcdRoutingDecision(TenantScoped, Base):
    """Append-only log of routing decisions (queued, offered, answered, requeued, abandoned, overflowed...)."""

    __tablename__ = "acd_routing_decisions"
    # By time: today's hourly figures, the day's counters and the open calls read at a rebuild are ranges of `at`.
    __table_args__ = (
        Index("ix_acd_routing_decisions_call", "tenant_id", "call_id"),
        Index("ix_acd_routing_decisions_at", "tenant_id", "at"),
    )

    tenant_id: Mapped[uuid.UUID] = _log_tenant()
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(20))
    call_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    queue_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    at: Mapped[datetime] = mapped_column()
    priority: Mapped[int] = mapped_column(default=0)
    wait_ms: Mapped[int] = mapped_column(default=0)
    target: Mapped[str] = mapped_column(String(80), default="")
