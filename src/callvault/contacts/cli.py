"""Command-line entries of the contacts domain: `callvault contacts import` and `callvault bench import`."""

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


FORMATS = ("auto", "csv", "xlsx", "json", "ndjson", "fixed")
PURPOSES = (
    "notification",
    "care",
    "survey",
    "verification",
    "collections",
    "activation",
    "reminder",
    "return_visit",
    "marketing",
)


def register_commands(app: typer.Typer) -> None:
    """Add the `callvault contacts ...` command group."""
    contacts_app = typer.Typer(no_args_is_help=True, help="Contact lists and list imports.")
    app.add_typer(contacts_app, name="contacts")

    @contacts_app.command("import")
    def import_file(
        file: Annotated[Path, typer.Argument(help="CSV, XLSX, JSON, NDJSON or fixed-width file")],
        tenant: Annotated[str, typer.Option("--tenant", help="institution slug")],
        list_name: Annotated[str, typer.Option("--list", help="contact list name; created when missing")],
        mapping: Annotated[Path | None, typer.Option("--mapping", help="column mapping template (JSON)")] = None,
        mapping_template: Annotated[
            str | None,
            typer.Option("--mapping-template", help="name of a mapping template saved for the institution"),
        ] = None,
        fmt: Annotated[str, typer.Option("--format", help="auto|csv|xlsx|json|ndjson|fixed")] = "auto",
        layout: Annotated[Path | None, typer.Option("--layout", help="layout file of a fixed-width file")] = None,
        report: Annotated[Path | None, typer.Option("--report", help="where to write the error report (CSV)")] = None,
        purpose: Annotated[
            str | None,
            typer.Option(
                "--purpose",
                help="purpose of a NEW list (default marketing); an existing list keeps its own purpose",
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print the counters as JSON")] = False,
    ) -> None:
        """Import FILE into list NAME: validated, normalised, deduplicated, DNC-checked; resumable after a crash."""
        _import_command(file, tenant, list_name, mapping, fmt, layout, report, purpose, as_json, mapping_template)

    _register_watch(contacts_app)


def _register_watch(contacts_app: typer.Typer) -> None:
    @contacts_app.command("dropbox")
    def dropbox_init(tenant: Annotated[str, typer.Option("--tenant", help="institution slug")]) -> None:
        """Create the institution's drop directory (incoming/, processing/, processed/, failed/); print its path."""
        from callvault.cli import _bind_system, _database, user_errors
        from callvault.config import get_settings
        from callvault.contacts import dropbox

        db = _database()
        with user_errors(), db.scoped() as session:
            slug = _bind_system(session, tenant).tenant_slug
        db.dispose()
        typer.echo(dropbox.prepare(get_settings().data_dir, slug).resolve())

    @contacts_app.command("watch")
    def watch(
        once: Annotated[bool, typer.Option("--once", help="one pass over the drop directories, then exit")] = False,
        interval: Annotated[float, typer.Option(min=0.1, help="seconds between passes")] = 10.0,
        settle: Annotated[
            float | None, typer.Option(min=0, help="seconds a file without a .done marker must be unchanged")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print one JSON line per file handled")] = False,
    ) -> None:
        """Import the files dropped in DATA_DIR/dropbox/<institution>/incoming (the SFTP landing point)."""
        import threading

        from callvault.cli import _database, err
        from callvault.config import get_settings
        from callvault.contacts import dropbox
        from callvault.logging import configure

        settings = get_settings()
        configure(level=settings.log_level, json=settings.log_json)  # log lines to stderr; stdout is the JSON
        settle_seconds = settings.dropbox_settle_seconds if settle is None else settle
        db = _database()

        def one_pass() -> None:
            for outcome in dropbox.poll(db, data_dir=settings.data_dir, settle_seconds=settle_seconds):
                line = {
                    "tenant": outcome.tenant_slug,
                    "file": outcome.file_name,
                    "status": outcome.status,
                    "import_id": str(outcome.import_id) if outcome.import_id else None,
                    **outcome.counts,
                    "error": outcome.error,
                    "moved_to": str(outcome.moved_to),
                }
                if as_json:
                    typer.echo(json.dumps(line, ensure_ascii=False))
                else:
                    counts = ", ".join(f"{k} {v:,}" for k, v in outcome.counts.items())
                    err.print(
                        f"{outcome.tenant_slug}: {outcome.file_name}: {outcome.status} {counts}{outcome.error}",
                        markup=False,
                    )

        if once:
            one_pass()
        else:
            stop = threading.Event()
            try:
                while not stop.is_set():
                    one_pass()
                    stop.wait(interval)
            except KeyboardInterrupt:
                pass
        db.dispose()


def _import_command(
    file: Path,
    tenant: str,
    list_name: str,
    mapping_path: Path | None,
    fmt: str,
    layout: Path | None,
    report: Path | None,
    purpose_name: str | None,
    as_json: bool,
    mapping_template: str | None = None,
) -> None:
    from contextlib import nullcontext

    from callvault.cli import _bind_system, _database, err, fail, user_errors
    from callvault.config import get_settings
    from callvault.contacts import import_service
    from callvault.contacts.mapping import ColumnMapping, MappingError
    from callvault.contacts.progress import import_progress
    from callvault.contacts.readers import SourceFormat, detect_format
    from callvault.dnc.policy import Purpose

    if fmt not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}")
    if purpose_name is not None and purpose_name not in PURPOSES:
        raise fail(f"--purpose must be one of {', '.join(PURPOSES)}")
    if not file.is_file():
        raise fail(f"no such file: {file}")
    if layout is not None and not layout.is_file():
        raise fail(f"no such layout file: {layout}")
    if fmt == "fixed" and layout is None:
        raise fail("fixed-width files need --layout")
    if mapping_path is not None and mapping_template is not None:
        raise fail("give --mapping or --mapping-template, not both")
    try:
        mapping = ColumnMapping.load(mapping_path) if mapping_path is not None else None
    except MappingError as exc:
        raise fail(str(exc)) from None
    db = _database()
    settings = get_settings()
    with user_errors():
        with db.scoped() as session:
            actor = _bind_system(session, tenant)
            list_id, created = import_service.ensure_list(
                session, actor=actor, name=list_name, purpose=Purpose(purpose_name) if purpose_name else None
            )
            started = import_service.start_import(
                session,
                actor=actor,
                list_id=list_id,
                path=file,
                file_name=file.name,
                fmt="fixed" if layout is not None and fmt == "auto" else fmt,
                mapping=mapping,
                report_path=report.resolve() if report is not None else None,
                data_dir=settings.data_dir,
                mapping_template=mapping_template,
            )
        if created and not as_json:
            err.print(f"created list [bold]{list_name}[/]")
        if started.resumed:
            err.print(f"resuming the unfinished import {started.job_id} of this file")
        source_format = (
            SourceFormat.FIXED if layout is not None else (detect_format(file) if fmt == "auto" else SourceFormat(fmt))
        )
        bar = nullcontext(None) if as_json else import_progress(file, source_format, console=err)
        with bar as progress:
            result = import_service.run_job(
                db, actor=actor, job_id=started.job_id, path=file, layout=layout, progress=progress
            )
    db.dispose()
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        err.print(
            f"{result.total:,} rows: {result.accepted:,} accepted, {result.rejected:,} rejected, "
            f"{result.duplicates:,} duplicates; error report: {result.report_path}"
        )
