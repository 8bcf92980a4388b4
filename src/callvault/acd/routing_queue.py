"""Runtime pieces of the routing owner: queue configuration, calls, agents, and one queue's indexes.

A queue keeps its waiting calls in one FIFO line per caller priority and its idle eligible agents in a heap
ordered by the queue's strategy. Both use lazy deletion: a call that hangs up or an agent that leaves "ready" is
skipped when it reaches the front, so every change is O(1) or O(log n) instead of a search.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from callvault.acd.agent_state import AgentState


class Strategy(enum.StrEnum):
    LONGEST_IDLE = "longest_idle"
    MOST_SKILLED = "most_skilled"
    ROUND_ROBIN = "round_robin"


class OverflowKind(enum.StrEnum):
    NONE = "none"
    QUEUE = "queue"
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"


class CallState(enum.StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    CONNECTED = "connected"
    ENDED = "ended"


@dataclass(frozen=True)
class QueueConfig:
    """What an institution configures for a queue (the `acd_queues` row, as the owner needs it)."""

    id: uuid.UUID
    name: str
    requirements: dict[str, int] = field(default_factory=dict)  # skill -> minimum proficiency 1..10
    priority: int = 0  # between queues: an agent serving several takes the higher queue first
    strategy: Strategy = Strategy.LONGEST_IDLE
    max_wait_seconds: int | None = None
    max_length: int | None = None
    overflow: OverflowKind = OverflowKind.NONE
    overflow_queue_id: uuid.UUID | None = None
    service_level_seconds: int = 20
    service_level_target_pct: int = 80
    wrap_up_seconds: int = 30
    disposition_required: bool = False
    default_handle_seconds: int = 180


@dataclass(eq=False, slots=True)
class Call:
    id: uuid.UUID
    queue_id: uuid.UUID | None  # None: an outbound call of a blended agent
    priority: int
    arrived_at: float
    queued_at: float
    seq: int  # arrival order; ties between queues are broken by it
    state: CallState = CallState.WAITING
    agent: Agent | None = None
    callback_number: str = ""  # set when the caller asked to be called back and keeps the place
    overflow_hops: int = 0
    answered_at: float = 0.0
    offered_at: float = 0.0
    skills: dict[str, int] = field(default_factory=dict)  # the IVR flow's requirements on top of the queue's


@dataclass(eq=False, slots=True)
class Agent:
    id: uuid.UUID
    skills: dict[str, int]
    blended: bool = False
    state: AgentState = AgentState.LOGGED_OUT
    since: float = 0.0
    reason: str = ""
    idle_since: float = 0.0
    call: Call | None = None
    last_queue_id: uuid.UUID | None = None  # queue of the last call, for wrap-up rules
    wrap_up_deadline: float = 0.0
    queues: set[uuid.UUID] = field(default_factory=set)
    # Bumped whenever the agent enters or leaves the idle pool: heap entries with an older epoch are stale.
    epoch: int = 0
    rr_mark: dict[uuid.UUID, int] = field(default_factory=dict)


IdleEntry = tuple[float, float, int, int, Agent]
_tiebreak = itertools.count()


class RoutingQueue:
    """One queue's waiting lines, idle-agent heap and service-level counters."""

    def __init__(self, config: QueueConfig) -> None:
        self.config = config
        self.lines: dict[int, deque[Call]] = {}
        self.levels: list[int] = []  # priorities present, highest first
        self.waiting = 0
        self.skilled_waiting = 0  # waiting calls with requirements of their own (the slow matching path)
        self.idle: list[IdleEntry] = []
        self.idle_count = 0
        self.eligible: set[Agent] = set()
        self.rr_counter = 0
        self.answered = 0
        self.answered_in_sl = 0
        self.abandoned = 0
        self.abandoned_late = 0
        self.overflowed = 0
        self.aht = float(config.default_handle_seconds)

    @property
    def id(self) -> uuid.UUID:
        return self.config.id

    # --- waiting lines ---------------------------------------------------------------------------------------

    def _line(self, priority: int) -> deque[Call]:
        line = self.lines.get(priority)
        if line is None:
            line = self.lines[priority] = deque()
            self.levels = sorted(self.lines, reverse=True)
        return line

    def add(self, call: Call, *, front: bool = False) -> None:
        line = self._line(call.priority)
        if front:
            line.appendleft(call)
        else:
            line.append(call)
        self.waiting += 1
        if call.skills:
            self.skilled_waiting += 1

    def forget(self, call: Call) -> None:
        """Count a waiting call out whose line entry was made stale (it is skipped when it reaches the front)."""
        self.waiting -= 1
        if call.skills:
            self.skilled_waiting -= 1

    def remove(self, call: Call) -> None:
        """Take a call out of the middle of its line (a call with its own requirements skipped by the head)."""
        self.lines[call.priority].remove(call)
        self.forget(call)

    def head(self) -> Call | None:
        """The next call to serve: highest priority, then first in line. Drops stale entries on the way."""
        if not self.waiting:
            return None
        for level in self.levels:
            line = self.lines[level]
            while line and line[0].state is not CallState.WAITING:
                line.popleft()
            if line:
                return line[0]
        return None

    def take_head(self) -> Call:
        call = self.head()
        assert call is not None
        self.lines[call.priority].popleft()
        self.forget(call)
        return call

    def calls_in_order(self) -> Iterator[Call]:
        for level in self.levels:
            for call in self.lines[level]:
                if call.state is CallState.WAITING and call.queue_id == self.id:
                    yield call

    def position(self, call: Call) -> int:
        """1-based place in line, counting only live calls ahead (for announcements)."""
        for ahead, other in enumerate(self.calls_in_order()):
            if other is call:
                return ahead + 1
        raise LookupError("call is not waiting in this queue")

    # --- idle agents -----------------------------------------------------------------------------------------

    def idle_key(self, agent: Agent) -> tuple[float, float]:
        strategy = self.config.strategy
        if strategy is Strategy.MOST_SKILLED:
            score = sum(agent.skills.get(s, 0) for s in self.config.requirements) or sum(agent.skills.values())
            return (-float(score), agent.idle_since)
        if strategy is Strategy.ROUND_ROBIN:
            return (float(agent.rr_mark.get(self.id, -1)), agent.idle_since)
        return (agent.idle_since, 0.0)

    def push_idle(self, agent: Agent) -> None:
        k1, k2 = self.idle_key(agent)
        heapq.heappush(self.idle, (k1, k2, next(_tiebreak), agent.epoch, agent))
        self.idle_count += 1
        if len(self.idle) > 2 * self.idle_count + 64:
            self._compact()

    def best_idle(self) -> Agent | None:
        """The strategy's best ready agent, without removing it (stale entries are dropped)."""
        idle = self.idle
        while idle:
            _, _, _, epoch, agent = idle[0]
            if epoch == agent.epoch and agent.state is AgentState.READY:
                return agent
            heapq.heappop(idle)
        return None

    def idle_in_order(self) -> list[Agent]:
        """Live idle agents, best first by the strategy (a sort: only for calls with their own requirements)."""
        seen: set[int] = set()
        out = []
        for entry in sorted(self.idle, key=lambda e: (e[0], e[1], e[2])):
            agent = entry[4]
            if entry[3] == agent.epoch and agent.state is AgentState.READY and id(agent) not in seen:
                seen.add(id(agent))
                out.append(agent)
        return out

    def _compact(self) -> None:
        # Agents that go ready and paused many times leave stale entries; rebuild once they dominate.
        self.idle = [e for e in self.idle if e[3] == e[4].epoch and e[4].state is AgentState.READY]
        heapq.heapify(self.idle)

    # --- statistics ------------------------------------------------------------------------------------------

    def note_answer(self, wait: float) -> None:
        self.answered += 1
        if wait <= self.config.service_level_seconds:
            self.answered_in_sl += 1

    def note_abandon(self, wait: float) -> None:
        self.abandoned += 1
        if wait > self.config.service_level_seconds:
            self.abandoned_late += 1

    def note_handle_time(self, seconds: float) -> None:
        # Exponential average: recent calls count most, one long call does not swing announcements.
        self.aht += 0.05 * (seconds - self.aht)

    def service_level(self) -> float | None:
        """Answered within the target time / (answered + abandoned after it); None before any call."""
        total = self.answered + self.abandoned_late
        return self.answered_in_sl / total if total else None
