"""The agent state machine as an explicit transition table.

Routing reads the state on every decision, so a state is a plain enum value and a transition a set lookup; every
change goes through `transition`, which rejects anything the table does not list.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass

from callvault.core.errors import Conflict


class AgentState(enum.StrEnum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    PAUSED = "paused"
    RINGING = "ringing"
    TALKING = "talking"
    WRAP_UP = "wrap_up"


S = AgentState

# Which state may follow which. RINGING means "reserved for one offered call": it is left only by answering,
# by not answering (paused), or by the caller hanging up (back to ready).
TRANSITIONS: dict[AgentState, frozenset[AgentState]] = {
    S.LOGGED_OUT: frozenset({S.READY, S.PAUSED}),
    S.READY: frozenset({S.PAUSED, S.RINGING, S.LOGGED_OUT}),
    S.PAUSED: frozenset({S.READY, S.LOGGED_OUT}),
    S.RINGING: frozenset({S.TALKING, S.PAUSED, S.READY}),
    S.TALKING: frozenset({S.WRAP_UP}),
    S.WRAP_UP: frozenset({S.READY, S.PAUSED, S.LOGGED_OUT}),
}

# Reason codes the platform itself uses; institutions add their own pause reasons (lunch, training, ...).
RING_NO_ANSWER = "ring_no_answer"
WRAP_UP_TIMEOUT = "wrap_up_timeout"
# The call ended because the owner that held it stopped (its media died with that process): the cause of the
# `abandoned` decision of a waiting or ringing call, and the reason of the wrap-up of a cut conversation.
INTERRUPTED = "interrupted"
SYSTEM_PAUSE_REASONS = frozenset({RING_NO_ANSWER})


class IllegalTransition(Conflict):
    """An agent state change the table does not allow (e.g. talking -> ready without wrap-up)."""

    code = "illegal-agent-transition"
    title = "Illegal agent state change"


def can_transition(current: AgentState, target: AgentState) -> bool:
    return target in TRANSITIONS[current]


def transition(current: AgentState, target: AgentState) -> AgentState:
    """Return `target` if the table allows it after `current`, else raise `IllegalTransition`."""
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(f"agent cannot go from {current.value} to {target.value}")
    return target


@dataclass(slots=True)
class StateChange:
    """One entry of the agent state log, as the owner produces it (seconds since the epoch)."""

    seq: int
    agent_id: uuid.UUID
    state: AgentState
    at: float
    reason: str = ""
    call_id: uuid.UUID | None = None
    idle_since: float | None = None
    logged: bool = False  # already written by an action function; the batch writer skips it
