"""`callvault bench dialer`: pacing policies side by side on the benchmark scenario families."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from callvault.dialer.bench import (
    POLICY_NAMES,
    CellSummary,
    load_optimum,
    load_reference,
    load_scenarios,
    run_bench,
)
from callvault.dialer.dynamics import dynamics_report
from callvault.dialer.measure import decision_latency, engine_throughput

_REPO_ROOT = Path(__file__).resolve().parents[3]
_SHARED = _REPO_ROOT.parent / "shared" / "bench" / "dialer"
_LOCAL = _REPO_ROOT / "bench" / "dialer"


def _default_path(name: str) -> Path:
    shared = _SHARED / name
    return shared if shared.exists() else _LOCAL / name


def _pct(x: float, ci: float) -> str:
    return f"{100 * x:.2f}±{100 * ci:.2f}" if math.isfinite(ci) else f"{100 * x:.2f}"


def _occ(x: float, ci: float) -> str:
    return f"{x:.4f}±{ci:.4f}" if math.isfinite(ci) else f"{x:.4f}"


def _cells(results: list[CellSummary]) -> dict[tuple[str, int, float, float], dict[str, CellSummary]]:
    out: dict[tuple[str, int, float, float], dict[str, CellSummary]] = {}
    for r in results:
        out.setdefault((r.family, r.agents, r.p_live, r.aht_s), {})[r.policy] = r
    return out


def print_tables(
    console: Console,
    results: list[CellSummary],
    policies: list[str],
    optimum: dict[tuple[int, float, float], float],
    reference: dict[tuple[int, float, float], dict[str, float]],
) -> None:
    """One table per family: occupancy and abandon rate per policy, with the optimum or references."""
    ours = "callvault" if "callvault" in policies else policies[-1]
    for family in sorted({r.family for r in results}):
        table = Table(title=f"Family {family}: occupancy (mean±95% CI) and abandon % per policy", show_lines=False)
        for col in ("N", "p", "AHT"):
            table.add_column(col, justify="right")
        for pol in policies:
            table.add_column(f"{pol} occ", justify="right")
            table.add_column(f"{pol} ab%", justify="right")
        if family == "M":
            table.add_column("optimum", justify="right")
            table.add_column(f"gap {ours}", justify="right")
        if family == "R":
            table.add_column("ref VICI", justify="right")
            table.add_column("best oracle ≤3%", justify="right")
            table.add_column(f"{ours} - best", justify="right")
        gaps: list[float] = []
        for (fam, n, p, aht), by_policy in _cells(results).items():
            if fam != family:
                continue
            row = [str(n), f"{p:g}", f"{aht:g}"]
            for pol in policies:
                c = by_policy[pol]
                row += [_occ(c.occupancy, c.occupancy_ci95), _pct(c.abandon_rate, c.abandon_rate_ci95)]
            key = (n, p, aht)
            if family == "M":
                opt = optimum.get(key)
                gap = None if opt is None else opt - by_policy[ours].occupancy
                if gap is not None:
                    gaps.append(gap)
                row += [f"{opt:.4f}" if opt is not None else "-", f"{gap:+.4f}" if gap is not None else "-"]
            if family == "R":
                ref = reference.get(key)
                if ref is None:
                    row += ["-", "-", "-"]
                else:
                    best = best_oracle(ref)
                    row += [
                        f"{ref['vicidial_style_occupancy']:.4f}",
                        f"{best:.4f}",
                        f"{by_policy[ours].occupancy - best:+.4f}",
                    ]
            table.add_row(*row)
        console.print(table)
        if gaps:
            console.print(
                f"Family M gap to optimum ({ours}): median {statistics.median(gaps):+.4f}, max {max(gaps):+.4f}"
            )


def best_oracle(ref: dict[str, float]) -> float:
    """Best oracle reference occupancy among the oracle figures that respect the 3 % cap."""
    pairs = [
        (ref["oracle_static_occupancy"], ref["oracle_static_abandon"]),
        (ref["oracle_lookahead_occupancy"], ref["oracle_lookahead_abandon"]),
    ]
    ok = [occ for occ, ab in pairs if ab <= 0.03]
    return max(ok) if ok else ref["progressive_occupancy"]


def register(bench_app: typer.Typer) -> None:
    """Add the `dialer` command to `callvault bench`."""

    @bench_app.command("dialer")
    def dialer(
        scenarios: Annotated[
            Path | None, typer.Option(help="CSV with family,agents,p_live,aht_s[,dial_resolution_s].")
        ] = None,
        policies: Annotated[str, typer.Option(help="Comma-separated policies.")] = ",".join(POLICY_NAMES),
        seeds: Annotated[int, typer.Option(min=1, help="Seeds per cell (same calls for every policy).")] = 5,
        hours: Annotated[float | None, typer.Option(help="Measured shift length; family default if unset.")] = None,
        warmup: Annotated[float | None, typer.Option(help="Warm-up minutes; family default if unset.")] = None,
        workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
        optimum: Annotated[Path | None, typer.Option(help="markov_optimum.csv")] = None,
        reference: Annotated[Path | None, typer.Option(help="realistic_reference.csv")] = None,
        latency: Annotated[bool, typer.Option(help="Also measure one pacing decision at N=500.")] = False,
        throughput: Annotated[bool, typer.Option(help="Also measure simulator events per second.")] = False,
        dynamics: Annotated[bool, typer.Option(help="Also run family D and report recovery times.")] = False,
        output: Annotated[Path | None, typer.Option(help="Also write the JSON results to this file.")] = None,
    ) -> None:
        """Run pacing policies on benchmark scenarios and print occupancy and abandon rates side by side."""
        console = Console(width=220)
        names = [p.strip() for p in policies.split(",") if p.strip()]
        report: dict[str, object] = {}
        if scenarios is not None:
            cells = load_scenarios(scenarios, hours=hours, warmup_s=None if warmup is None else 60.0 * warmup)
            results = run_bench(cells, names, seeds, workers=workers)
            report["cells"] = [r.as_dict() for r in results]
            if not as_json:
                opt = load_optimum(optimum or _default_path("markov_optimum.csv"))
                ref = load_reference(reference or _default_path("realistic_reference.csv"))
                print_tables(console, results, names, opt, ref)
        if latency:
            lat = decision_latency()
            report["decision_latency"] = lat
            if not as_json:
                console.print(f"Pacing decision at N=500 (family R p=0.2 AHT=180): {lat}")
        if throughput:
            thr = engine_throughput()
            report["throughput"] = thr
            if not as_json:
                console.print(f"Simulator throughput: {thr}")
        if dynamics:
            rows = dynamics_report(names, seeds)
            report["dynamics"] = rows
            if not as_json:
                table = Table(title="Family D (N=50): minutes to recover after each change (worst seed)")
                for col in rows[0]:
                    table.add_column(col, justify="right")
                for row in rows:
                    table.add_row(*(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row.values()))
                console.print(table)
        if output is not None:
            output.write_text(json.dumps(report, indent=1), encoding="utf-8")
        if as_json:
            if set(report) == {"cells"}:
                typer.echo(json.dumps(report["cells"], indent=1))
            else:
                typer.echo(json.dumps(report, indent=1))
