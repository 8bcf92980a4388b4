"""A smoke run of `callvault bench dialer` (tiny shifts; full grids run by hand)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from callvault.cli import app

REPO = Path(__file__).resolve().parents[2]


def test_bench_dialer_json_smoke(tmp_path: Path) -> None:
    scenarios = tmp_path / "cells.csv"
    scenarios.write_text("family,agents,p_live,aht_s\nM,10,0.4,60\nR,10,0.2,180\n", encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "dialer",
            "--scenarios",
            str(scenarios),
            "--seeds",
            "2",
            "--hours",
            "0.1",
            "--warmup",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    cells = json.loads(result.output)
    assert len(cells) == 2 * 3
    keys = {"family", "agents", "p_live", "aht_s", "policy", "occupancy", "abandon_rate"}
    assert keys | {"occupancy_ci95", "abandon_rate_ci95", "dials_per_agent_hour"} <= set(cells[0])
    assert {c["policy"] for c in cells} == {"progressive", "vicidial", "callvault"}


def test_bench_dialer_table_shows_the_optimum(tmp_path: Path) -> None:
    scenarios = tmp_path / "cells.csv"
    scenarios.write_text("family,agents,p_live,aht_s\nM,10,0.2,180\n", encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "bench", "dialer", "--scenarios", str(scenarios), "--seeds", "1",
            "--hours", "0.1", "--warmup", "1", "--optimum", str(REPO / "bench/dialer/markov_optimum.csv"),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "0.8454" in result.output  # exact optimum of the cell
    assert "gap" in result.output
