"""Policy invariants over arbitrary observations, including bad input."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from callvault.dialer.compliance import AbandonLedger, CompliancePacing
from callvault.dialer.models import AgentStates, CallHandled, DialOutcome, DialResolved, PacingObservation
from callvault.dialer.policies import (
    DEFAULT_LIMITS,
    FixedRatioPolicy,
    PacingPolicy,
    ProgressivePolicy,
    VicidialStylePolicy,
)
from callvault.dialer.predictive import CallVaultPolicy, PredictiveConfig

elapsed = st.lists(st.floats(min_value=0.0, max_value=1e6, allow_nan=False), max_size=60)


@st.composite
def observations(draw: st.DrawFn) -> PacingObservation:
    return PacingObservation(
        now_s=draw(st.floats(min_value=-1e6, max_value=1e7, allow_nan=False)),
        agents=AgentStates(
            idle_elapsed_s=np.asarray(draw(elapsed), dtype=np.float64),
            busy_elapsed_s=np.asarray(draw(elapsed), dtype=np.float64),
        ),
        ringing_elapsed_s=np.asarray(draw(st.lists(st.floats(0.0, 1e5), max_size=200)), dtype=np.float64),
        queued_wait_s=np.asarray(draw(st.lists(st.floats(0.0, 5.0), max_size=5)), dtype=np.float64),
        free_trunk_lines=draw(st.none() | st.integers(min_value=0, max_value=500)),
    )


def _policies() -> list[PacingPolicy]:
    return [
        ProgressivePolicy(),
        FixedRatioPolicy(2.5),
        VicidialStylePolicy(),
        CallVaultPolicy(),
        CompliancePacing(CallVaultPolicy(), AbandonLedger()),
    ]


@settings(max_examples=60, deadline=None)
@given(obs=observations())
def test_every_policy_stays_within_agent_and_trunk_limits(obs: PacingObservation) -> None:
    for policy in _policies():
        n = policy.decide(obs)
        assert isinstance(n, int)
        assert n >= 0
        agents = obs.agents.logged_in
        if agents == 0:
            assert n == 0, policy.name  # nobody logged in: never dial
        else:
            limit = DEFAULT_LIMITS.max_outstanding_per_agent * agents
            assert n == 0 or obs.outstanding + n <= limit, policy.name
        if obs.free_trunk_lines is not None:
            assert n <= obs.free_trunk_lines, policy.name


@settings(max_examples=40, deadline=None)
@given(obs=observations())
def test_predictive_never_paces_below_progressive(obs: PacingObservation) -> None:
    progressive = ProgressivePolicy().decide(obs)
    assert CallVaultPolicy().decide(obs) >= progressive


def test_progressive_dials_one_per_idle_agent() -> None:
    obs = PacingObservation(
        now_s=0.0,
        agents=AgentStates(idle_elapsed_s=np.zeros(4), busy_elapsed_s=np.zeros(6)),
        ringing_elapsed_s=np.zeros(1),
    )
    assert ProgressivePolicy().decide(obs) == 3
    assert FixedRatioPolicy(2.0).decide(obs) == 7


def _warm(policy: CallVaultPolicy, *, p: float, aht_s: float) -> None:
    rng = np.random.default_rng(1)
    for i in range(2000):
        live = rng.random() < p
        outcome = DialOutcome.LIVE if live else DialOutcome.NO_ANSWER
        policy.record(DialResolved(i * 0.5, float(rng.exponential(15.0)), outcome))
        if i % 5 == 0:
            policy.record(CallHandled(i * 0.5, float(rng.exponential(aht_s)) if aht_s > 0 else 0.0))


def _obs(idle: int, busy: int, ringing: int, now: float = 2000.0) -> PacingObservation:
    return PacingObservation(
        now_s=now,
        agents=AgentStates(idle_elapsed_s=np.full(idle, 3.0), busy_elapsed_s=np.full(busy, 30.0)),
        ringing_elapsed_s=np.full(ringing, 4.0),
    )


def test_predictive_dials_more_when_fewer_agents_are_busy() -> None:
    policy = CallVaultPolicy(PredictiveConfig(grace_s=0.0))
    _warm(policy, p=0.2, aht_s=120.0)
    wanted = [policy.decide(_obs(idle=10 - b, busy=b, ringing=0)) for b in range(11)]
    assert wanted == sorted(wanted, reverse=True)  # the threshold table shape d*(busy)
    assert wanted[0] > 10  # over-dials when everyone waits
    assert wanted[-1] <= 1  # hardly dials when everyone is busy


def test_contact_rate_zero_does_not_storm() -> None:
    policy = CallVaultPolicy()
    _warm(policy, p=0.0, aht_s=180.0)
    n = policy.decide(_obs(idle=10, busy=0, ringing=0))
    assert 0 < n <= DEFAULT_LIMITS.max_outstanding_per_agent * 10
    assert policy.decide(_obs(idle=10, busy=0, ringing=100)) == 0  # at the per-agent bound already


def test_zero_and_huge_handling_times_give_finite_decisions() -> None:
    for aht in (0.0, 1e7):
        policy = CallVaultPolicy()
        _warm(policy, p=0.2, aht_s=aht)
        n = policy.decide(_obs(idle=2, busy=8, ringing=3))
        assert 0 <= n <= 100
        assert math.isfinite(policy.threshold)


def test_clock_going_backwards_is_tolerated() -> None:
    for policy in (VicidialStylePolicy(), CallVaultPolicy()):
        for now in (1000.0, 500.0, 1500.0, -20.0, 2000.0):
            assert policy.decide(_obs(idle=3, busy=7, ringing=2, now=now)) >= 0
