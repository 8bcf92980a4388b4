"""Erlang C against textbook values, and the simulated day's bookkeeping (no timing, no statistics bounds)."""

from __future__ import annotations

import pytest

from callvault.acd.erlang import erlang_c, erlang_c_service_level, simulate_day


def test_erlang_c_textbook_values() -> None:
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # M/M/1: probability of waiting is the load
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c(3, 2.0) == pytest.approx(4 / 9)
    assert erlang_c(10, 10.0) == 1.0


def test_service_level_grows_with_staffing() -> None:
    levels = [erlang_c_service_level(agents=n, arrival_rate=1 / 18, mean_handle=180, target=20) for n in (11, 12, 14)]
    assert levels == sorted(levels) and 0 < levels[0] < levels[-1] < 1


def test_simulated_hour_answers_every_caller_through_the_router() -> None:
    day = simulate_day(agents=4, arrival_rate=3 / 30, mean_handle=30, target=10, hours=1, warm_up_hours=0, seed=3)
    assert day.calls > 200
    assert 0 <= day.measured_sl <= 1 and day.traffic_erlangs == pytest.approx(3)
