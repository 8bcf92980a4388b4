"""Command-line entries of the contacts domain: `callvault bench import`.

`callvault contacts import` needs the database and is wired with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer


def register(bench_app: typer.Typer) -> None:
    """Add `import` to the `callvault bench` command group."""

    @bench_app.command("import")
    def bench_import(
        rows: Annotated[int, typer.Option(min=1, help="Rows in the generated call list.")] = 1_000_000,
        repeat: Annotated[int, typer.Option(min=1, help="Runs per mode; the median is reported.")] = 3,
        directory: Annotated[
            Path | None, typer.Option(help="Where to write the generated file (default: system temp).")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    ) -> None:
        """Rows/s and peak RSS of the validated, normalised, deduped import next to stdlib csv."""
        from callvault.contacts.bench import run_benchmark

        figures = run_benchmark(rows, repeat=repeat, directory=directory)
        if as_json:
            typer.echo(json.dumps(figures, ensure_ascii=False))
        else:
            _print_table(figures)


def _print_table(figures: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"List import, {figures['rows']:,} rows ({figures['file_mb']} MB CSV), median of {figures['repeat']}"
    )
    for column in ("mode", "seconds", "rows/s", "CPU s", "rows/CPU s", "peak RSS (MB)"):
        table.add_column(column, justify="left" if column == "mode" else "right")
    for mode, row in figures["modes"].items():
        table.add_row(
            mode,
            f"{row['seconds']:.2f}",
            f"{row['rows_per_s']:,}",
            f"{row['cpu_seconds']:.2f}",
            f"{row['rows_per_cpu_s']:,}",
            f"{row['peak_rss_mb']:.0f}",
        )
    Console().print(table)
