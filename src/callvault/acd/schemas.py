"""Shapes of ACD configuration and events: queues, agents with skills, agent state changes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from callvault.core.schemas import ReadModel, StrictInput

StrategyName = Literal["longest_idle", "most_skilled", "round_robin"]
OverflowName = Literal["none", "queue", "voicemail", "callback"]
SkillName = Field(min_length=1, max_length=60, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
# Skill names as keys (the levels are checked by the action functions, which name the offending skills).
Skill = Annotated[str, StringConstraints(min_length=1, max_length=60, pattern=r"^[a-z0-9][a-z0-9_.-]*$")]


class QueueCreate(StrictInput):
    name: str = Field(min_length=1, max_length=80)
    requirements: dict[Skill, int] = Field(default_factory=dict, description="skill -> minimum proficiency 1..10")
    priority: int = Field(default=0, ge=0, le=100)
    strategy: StrategyName = "longest_idle"
    max_wait_seconds: int | None = Field(default=None, ge=1, le=86_400)
    max_length: int | None = Field(default=None, ge=0, le=1_000_000)
    overflow: OverflowName = "none"
    overflow_queue_id: uuid.UUID | None = None
    service_level_seconds: int = Field(default=20, ge=1, le=3600)
    service_level_target_pct: int = Field(default=80, ge=1, le=100)
    wrap_up_seconds: int = Field(default=30, ge=0, le=3600)
    disposition_required: bool = False
    default_handle_seconds: int = Field(default=180, ge=1, le=86_400)


class QueueUpdate(StrictInput):
    requirements: dict[Skill, int] | None = None
    priority: int | None = Field(default=None, ge=0, le=100)
    strategy: StrategyName | None = None
    max_wait_seconds: int | None = Field(default=None, ge=1, le=86_400)
    max_length: int | None = Field(default=None, ge=0, le=1_000_000)
    overflow: OverflowName | None = None
    overflow_queue_id: uuid.UUID | None = None
    service_level_seconds: int | None = Field(default=None, ge=1, le=3600)
    service_level_target_pct: int | None = Field(default=None, ge=1, le=100)
    wrap_up_seconds: int | None = Field(default=None, ge=0, le=3600)
    disposition_required: bool | None = None


class QueueRead(ReadModel):
    id: uuid.UUID
    name: str
    requirements: dict[str, int]
    priority: int
    strategy: str
    max_wait_seconds: int | None
    max_length: int | None
    overflow: str
    overflow_queue_id: uuid.UUID | None
    service_level_seconds: int
    service_level_target_pct: int
    wrap_up_seconds: int
    disposition_required: bool
    default_handle_seconds: int
    created_at: datetime


class AgentSkillsSet(StrictInput):
    display_name: str = Field(default="", max_length=120)
    skills: dict[Skill, int] = Field(default_factory=dict, description="skill -> proficiency 1..10")
    blended: bool = False


class AgentRead(ReadModel):
    id: uuid.UUID
    display_name: str
    skills: dict[str, int]
    blended: bool


class PauseReasonCreate(StrictInput):
    code: str = Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(default="", max_length=120)


class AgentStateChangeRead(ReadModel):
    agent_id: uuid.UUID
    state: str
    reason: str
    at: datetime


class PauseReasonRead(ReadModel):
    code: str
    label: str


ManualState = Literal["ready", "paused", "logged_out"]


class AgentStateSet(StrictInput):
    state: ManualState
    reason: str = Field(default="", max_length=40, description="pause reason code (required with paused)")


class MonitorStart(StrictInput):
    mode: Literal["listen", "whisper", "barge"] = Field(
        description="listen: hear both sides; whisper: the agent hears you, the caller does not; barge: three-way"
    )


class MonitorStarted(ReadModel):
    agent_id: uuid.UUID
    call_id: uuid.UUID
    mode: str


class WrapUpEnd(StrictInput):
    # A code, not free text: it is logged with the state change and in the audit record.
    disposition: str = Field(default="", max_length=40, pattern=r"^[A-Za-z0-9_.-]*$")
    then: ManualState = "ready"
    reason: str = Field(default="", max_length=40, description="pause reason code when `then` is paused")


class AgentStatus(ReadModel):
    agent_id: uuid.UUID
    seat: bool = Field(description="false: the user has no agent seat (no skills set up yet)")
    state: str
    reason: str = ""
    since: datetime | None = None
    call_id: uuid.UUID | None = None
    offer: dict[str, Any] | None = None


class QueueStats(ReadModel):
    queue_id: uuid.UUID
    name: str
    calls_waiting: int
    longest_wait_seconds: float
    offered_today: int
    answered_today: int
    answered_within_target_today: int
    service_level: float | None = Field(description="answered within the target time / offered, today")
    service_level_seconds: int
    service_level_target_pct: int
    asa_seconds: float | None = Field(description="average wait of the calls answered today")
    abandoned_today: int
    abandon_rate: float | None = Field(description="abandoned / offered, today")
    overflowed_today: int
    agents_by_state: dict[str, int]


class AgentStats(ReadModel):
    agent_id: uuid.UUID
    state: str
    reason: str
    seconds_in_state: float | None
    calls_handled_today: int


class AcdStats(ReadModel):
    at: datetime
    queues: list[QueueStats]
    agents: list[AgentStats]


class HourFigures(ReadModel):
    hour: int = Field(description="hours since local midnight (0-based)")
    start: datetime = Field(description="the hour's start, UTC")
    label: str = Field(description="the hour's local start time, HH:MM")
    offered: int
    answered: int
    abandoned: int
    answered_within_target: int
    service_level: float | None = Field(description="answered within the target time / offered, in that hour")


class QueueDayFigures(ReadModel):
    queue_id: uuid.UUID
    name: str
    service_level_seconds: int
    hours: list[HourFigures]


class TodayStats(ReadModel):
    day: str = Field(description="the institution's local date, YYYY-MM-DD")
    time_zone: str = Field(description="IANA name of the zone the day is counted in")
    time_zone_default: bool = Field(description="true when the institution names no time zone: the UTC day")
    queues: list[QueueDayFigures]
    total: list[HourFigures] = Field(description="every listed queue together, hour by hour")
