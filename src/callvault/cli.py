"""The `callvault` command line."""

from __future__ import annotations

import typer

app = typer.Typer(name="callvault", no_args_is_help=True, add_completion=False)
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that print side-by-side tables.")
app.add_typer(bench_app, name="bench")
from callvault.dialer.cli import register as register_dialer_bench  # noqa: E402

register_dialer_bench(bench_app)


@app.command()
def version() -> None:
    """Print the CallVault version."""
    from callvault import __version__

    typer.echo(__version__)


def main() -> None:
    app()
