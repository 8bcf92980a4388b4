"""The agent state transition table."""

from __future__ import annotations

import pytest

from callvault.acd.agent_state import TRANSITIONS, AgentState, IllegalTransition, can_transition, transition

S = AgentState


def test_every_state_has_a_row_and_no_state_follows_itself() -> None:
    assert set(TRANSITIONS) == set(AgentState)
    for state, targets in TRANSITIONS.items():
        assert state not in targets


@pytest.mark.parametrize(
    ("current", "target"),
    [(S.TALKING, S.READY), (S.LOGGED_OUT, S.TALKING), (S.PAUSED, S.RINGING), (S.WRAP_UP, S.TALKING)],
)
def test_illegal_transitions_raise_a_domain_error(current: AgentState, target: AgentState) -> None:
    assert not can_transition(current, target)
    with pytest.raises(IllegalTransition):
        transition(current, target)


def test_a_call_cycle_is_legal() -> None:
    state = S.LOGGED_OUT
    for target in (S.READY, S.RINGING, S.TALKING, S.WRAP_UP, S.READY, S.PAUSED, S.LOGGED_OUT):
        state = transition(state, target)
    assert state is S.LOGGED_OUT
