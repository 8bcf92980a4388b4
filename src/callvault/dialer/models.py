"""What a pacing policy observes: typed snapshots of agents, ringing dials and answered calls, plus outcome
events."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

_EMPTY: FloatArray = np.zeros(0, dtype=np.float64)


def empty_times() -> FloatArray:
    """A fresh empty array of elapsed times."""
    return _EMPTY.copy()


class DialOutcome(enum.Enum):
    """How a dial attempt resolved, as the telephony engine reports it."""

    LIVE = "live"  # a person answered (or the machine detector said so)
    NO_ANSWER = "no_answer"  # ring timeout
    BUSY = "busy"
    FAILED = "failed"  # network failure, invalid number, rejected
    MACHINE = "machine"  # answering machine detected; includes false positives the dialer cannot tell apart


@dataclass(frozen=True, slots=True)
class AgentStates:
    """Logged-in agents available to the campaign, by state.

    Agents on break, in training or logged out are not listed: they cannot take a call, so pacing ignores
    them.
    """

    idle_elapsed_s: FloatArray = field(default_factory=empty_times)
    """Seconds each ready agent has been waiting for a call."""
    busy_elapsed_s: FloatArray = field(default_factory=empty_times)
    """Seconds each agent has spent on the current call (talk plus wrap-up so far)."""

    @property
    def idle(self) -> int:
        return int(self.idle_elapsed_s.size)

    @property
    def busy(self) -> int:
        return int(self.busy_elapsed_s.size)

    @property
    def logged_in(self) -> int:
        return self.idle + self.busy


@dataclass(frozen=True, slots=True)
class PacingObservation:
    """Everything a pacing decision may use at one instant. Times are seconds on the campaign clock."""

    now_s: float
    agents: AgentStates
    ringing_elapsed_s: FloatArray = field(default_factory=empty_times)
    """Elapsed ring time of every outstanding dial (placed, not yet resolved)."""
    queued_wait_s: FloatArray = field(default_factory=empty_times)
    """How long each live answer has been waiting for an agent (within the grace time)."""
    free_trunk_lines: int | None = None
    """Lines still free on the campaign's trunks; None when the trunk does not limit the campaign."""

    @property
    def outstanding(self) -> int:
        return int(self.ringing_elapsed_s.size)

    @property
    def queued(self) -> int:
        return int(self.queued_wait_s.size)


@dataclass(frozen=True, slots=True)
class DialResolved:
    """A dial attempt resolved after `ring_s` seconds."""

    at_s: float
    ring_s: float
    outcome: DialOutcome


@dataclass(frozen=True, slots=True)
class CallHandled:
    """An agent finished a call (talk plus wrap-up) that took `handling_s` seconds."""

    at_s: float
    handling_s: float


@dataclass(frozen=True, slots=True)
class LiveAnswerAbandoned:
    """A live answer found no agent within the grace time (also used for machine-detector false positives)."""

    at_s: float


PacingEvent = DialResolved | CallHandled | LiveAnswerAbandoned
