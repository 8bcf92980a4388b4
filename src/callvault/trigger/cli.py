"""`callvault bench trigger`: trigger API throughput and latency next to a bare FastAPI endpoint."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


def register(bench_app: typer.Typer) -> None:
    """Add the `trigger` benchmark to `callvault bench`."""

    @bench_app.command("trigger")
    def bench_trigger(
        rate: Annotated[float, typer.Option(help="requests per second (open loop)")] = 500.0,
        seconds: Annotated[float, typer.Option(help="measured duration")] = 10.0,
        warmup: Annotated[int, typer.Option(help="requests sent first, one at a time, not measured")] = 20,
        as_json: Annotated[bool, typer.Option("--json")] = False,
        database_url: Annotated[
            str, typer.Option(help="an existing PostgreSQL database (the app's role) instead of a fresh SQLite file")
        ] = "",
        database_admin_url: Annotated[
            str, typer.Option(help="the same database as its schema owner, to migrate it (default: --database-url)")
        ] = "",
        processes: Annotated[
            int, typer.Option(min=1, help="server processes per side, each on its own port, sent to round robin")
        ] = 1,
        max_in_flight: Annotated[
            int | None, typer.Option(min=1, help="the app's orders in progress per process (default: its setting)")
        ] = None,
    ) -> None:
        """Signed POST /api/v1/calls/trigger against the real app (uvicorn on loopback, SQLite) at a fixed rate,
        next to a bare FastAPI endpoint in the same run: throughput ratio, p50/p99 latency of the accepted orders,
        orders refused by overload control (503). SQLite unless --database-url names PostgreSQL."""
        from callvault.trigger.bench import run_benchmark

        result = run_benchmark(
            rate=rate,
            seconds=seconds,
            warmup=warmup,
            database_url=database_url,
            database_admin_url=database_admin_url,
            processes=processes,
            max_in_flight=max_in_flight,
        )
        if as_json:
            typer.echo(json.dumps(result, indent=2))
            return
        table = Table(
            title=f"trigger API at {rate:g} req/s for {seconds:g} s on {result['database']}, {processes} process(es)"
            f" per side, at most {result['max_in_flight_per_process']} orders in progress per process"
            " (open loop, loopback)"
        )
        for column in ("server", "sent", "202", "503", "errors", "req/s", "p50 ms", "p99 ms", "max ms"):
            table.add_column(column, justify="right" if column != "server" else "left")
        for key in ("ours", "bare"):
            r = result[key]
            table.add_row(
                r["name"],
                str(r["sent"]),
                str(r["ok"]),
                str(r["refused"]),
                str(r["errors"]),
                f"{r['throughput']:.1f}",
                f"{r['p50_ms']:.2f}",
                f"{r['p99_ms']:.2f}",
                f"{r['max_ms']:.2f}",
            )
        console = Console()
        console.print(table)
        ours = result["ours"]
        console.print(
            f"throughput ratio {result['throughput_ratio']:.3f} (goal ≥ 0.5), p99 {ours['p99_ms']:.2f} ms (goal ≤ 25);"
            f" 503 answered in {ours['refused_p50_ms']:.2f} ms (p50); load generator late by"
            f" {ours['send_lag_p50_ms']:.2f} / {ours['send_lag_p99_ms']:.2f} ms (p50 / p99); load average before"
            f" {result['load_average_before'][0]:.2f}"
        )
