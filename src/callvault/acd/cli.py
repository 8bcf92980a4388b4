"""`callvault bench acd`: routing throughput and latency at scale, and the Erlang C service-level check."""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

# Scaled so one simulated day holds about 29,000 calls: the check compares ratios (target / handle time),
# and more calls per day means less noise in the measured service level.
SL_TRAFFIC_ERLANGS = 10.0
SL_MEAN_HANDLE = 30.0
SL_TARGET = 10.0
SL_STAFFING = (12, 13, 15)


def register(bench_app: typer.Typer) -> None:
    """Add the `acd` benchmark to `callvault bench`."""

    @bench_app.command("acd")
    def bench_acd(
        agents: Annotated[int, typer.Option(help="agents logged in")] = 10_000,
        skills: Annotated[int, typer.Option(help="distinct skills (one queue each)")] = 200,
        decisions: Annotated[int, typer.Option(help="routing decisions to time")] = 20_000,
        baseline_decisions: Annotated[int, typer.Option(help="decisions for the linear-scan baseline")] = 500,
        days: Annotated[
            int, typer.Option(help="simulated days per staffing level for the Erlang C check (0: skip the check)")
        ] = 3,
        seed: Annotated[int, typer.Option()] = 7,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Routing decisions/s and p50/p99 per decision with the state store and batched log writing (SQLite
        file in a temp dir), next to a linear-scan baseline; then measured service level vs Erlang C."""
        from callvault.acd.bench import compare
        from callvault.acd.erlang import simulate_day

        routing = compare(
            agents=agents, skills=skills, decisions=decisions, baseline_decisions=baseline_decisions, seed=seed
        )
        levels = []
        for staff in SL_STAFFING if days > 0 else ():
            runs = [
                simulate_day(
                    agents=staff,
                    arrival_rate=SL_TRAFFIC_ERLANGS / SL_MEAN_HANDLE,
                    mean_handle=SL_MEAN_HANDLE,
                    target=SL_TARGET,
                    seed=seed * 100 + staff * 10 + day,
                )
                for day in range(days)
            ]
            measured = statistics.fmean(r.measured_sl for r in runs)
            levels.append(
                {
                    "agents": staff,
                    "traffic_erlangs": SL_TRAFFIC_ERLANGS,
                    "mean_handle_seconds": SL_MEAN_HANDLE,
                    "target_seconds": SL_TARGET,
                    "days": days,
                    "calls": sum(r.calls for r in runs),
                    "measured_sl_pct": round(100 * measured, 2),
                    "erlang_c_sl_pct": round(100 * runs[0].erlang_c_sl, 2),
                    "difference_points": round(100 * (measured - runs[0].erlang_c_sl), 2),
                    "per_day_pct": [round(100 * r.measured_sl, 2) for r in runs],
                }
            )
        machine = {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]}
        report: dict[str, Any] = {
            "routing": [asdict(r) for r in routing],
            "service_level": levels,
            "machine": machine,
        }
        if as_json:
            typer.echo(json.dumps(report))
            return
        console = Console()
        table = Table(title=f"ACD routing, {agents} agents, {skills} skills (SQLite log, batched)")
        for column in ("router", "decisions", "wall s", "decisions/s", "CPU s", "decisions/CPU s", "p50 ms", "p99 ms"):
            table.add_column(column, justify="right")
        for r in routing:
            table.add_row(
                r.router,
                str(r.decisions),
                f"{r.seconds:.2f}",
                f"{r.decisions_per_second:,.0f}",
                f"{r.cpu_seconds:.2f}",
                f"{r.decisions_per_cpu_second:,.0f}",
                f"{r.p50_ms:.3f}",
                f"{r.p99_ms:.3f}",
            )
        console.print(table)
        sl = Table(title=f"Service level within {SL_TARGET:.0f} s: simulated days vs Erlang C")
        for column in ("agents", "erlangs", "calls", "measured %", "Erlang C %", "difference (points)"):
            sl.add_column(column, justify="right")
        for level in levels:
            sl.add_row(
                str(level["agents"]),
                f"{level['traffic_erlangs']:.0f}",
                str(level["calls"]),
                f"{level['measured_sl_pct']:.2f}",
                f"{level['erlang_c_sl_pct']:.2f}",
                f"{level['difference_points']:+.2f}",
            )
        if levels:
            console.print(sl)
        console.print(f"machine: {machine['cpus']} CPUs, load average {machine['load_average']}")
