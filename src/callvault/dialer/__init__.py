"""Predictive dialing: pacing policies, abandon accounting and the pacing simulator.

A pacing policy sees what a live dialer sees (agents with their state and time in state, dials still ringing,
answered calls waiting for an agent, the campaign's own outcome history) and answers "dial n numbers now".
The same policy object runs against the telephony engine in production and inside `callvault.dialer.sim`.
"""

from callvault.dialer.models import (
    AgentStates,
    CallHandled,
    DialOutcome,
    DialResolved,
    PacingEvent,
    PacingObservation,
)
from callvault.dialer.policies import PacingPolicy

__all__ = [
    "AgentStates",
    "CallHandled",
    "DialOutcome",
    "DialResolved",
    "PacingEvent",
    "PacingObservation",
    "PacingPolicy",
]
