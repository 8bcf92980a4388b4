"""`callvault billing rate | invoice | margin`: rate closed legs, issue and export invoices, report margins."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table


def register(app: typer.Typer) -> None:
    billing_app = typer.Typer(no_args_is_help=True, help="Rating, invoices and margins.")
    app.add_typer(billing_app, name="billing")

    @billing_app.command("rate")
    def rate(
        legs: Annotated[
            Path | None, typer.Option("--legs", exists=True, dir_okay=False, help="closed legs as NDJSON")
        ] = None,
        from_interactions: Annotated[
            bool, typer.Option("--from-interactions", help="rate the closed customer legs of the call records")
        ] = False,
        since: Annotated[
            datetime | None,
            typer.Option(help="with --from-interactions: legs ended from this time (default: 40 days back)"),
        ] = None,
        tenant: Annotated[
            list[str] | None, typer.Option("--tenant", help="with --from-interactions: only these institutions")
        ] = None,
        batch: Annotated[int, typer.Option(min=1, max=5000, help="legs per transaction")] = 500,
        as_json: Annotated[bool, typer.Option("--json", help="print the counters as JSON")] = False,
    ) -> None:
        """Rate every closed leg not rated yet (safe to rerun at any time, also after a crash: none is rated twice)."""
        if (legs is None) == (not from_interactions):
            from callvault.cli import fail

            raise fail("give either --legs FILE or --from-interactions")
        if legs is not None:
            _rate(legs, batch, as_json)
        else:
            _rate_interactions(since, tenant or None, batch, as_json)

    @billing_app.command("invoice")
    def invoice(
        tenant: Annotated[str, typer.Option("--tenant", help="institution slug")],
        month: Annotated[str, typer.Option("--month", help="YYYY-MM, a month that is over")],
        out: Annotated[Path, typer.Option("--out", file_okay=False, help="directory for the CSV and PDF")],
        as_json: Annotated[bool, typer.Option("--json", help="print the invoice as JSON")] = False,
    ) -> None:
        """Issue the institution's invoice for MONTH (once; a rerun exports the one issued) as CSV and PDF."""
        _invoice(tenant, month, out, as_json)

    @billing_app.command("margin")
    def margin(
        month: Annotated[str, typer.Option("--month", help="YYYY-MM")],
        tenant: Annotated[str | None, typer.Option("--tenant", help="only this institution")] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Telecom cost, price and margin per institution and campaign for MONTH."""
        _margin(month, tenant, as_json)


def _rate(path: Path, batch: int, as_json: bool) -> None:
    from callvault.billing import ledger
    from callvault.billing.legs import BadRecord, legs_from_records, ndjson_records
    from callvault.cli import _database, user_errors
    from callvault.tenancy import service as tenancy

    console = Console(stderr=as_json)
    bad: list[BadRecord] = []
    db = _database()
    with user_errors(), db.scoped() as session:
        actor = tenancy.operator_principal(session, name="billing-rate")
        columns = (TextColumn("[bold]rating"), BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[counts]}"))
        with Progress(*columns, console=console, transient=as_json) as bar:
            task = bar.add_task("rate", total=None, counts="")

            def show(run: ledger.RatingRun) -> None:
                bar.update(task, completed=run.read, counts=f"{run.read:,} read, {run.rated:,} rated")

            run = ledger.rate_legs(
                session,
                actor=actor,
                legs=legs_from_records(ndjson_records(path), bad.append),
                batch_size=batch,
                on_batch=show,
            )
    db.dispose()
    result = run.as_dict() | {"bad_records": len(bad), "bad_examples": [b.__dict__ for b in bad[:10]]}
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table("legs", "count", title=f"rating of {path.name}")
    for key in ("read", "rated", "already_rated", "still_open", "bad_records"):
        table.add_row(key.replace("_", " "), f"{result[key]:,}")
    for reason, count in run.unrated.items():
        table.add_row(f"unrated: {reason}", f"{count:,}")
    table.add_row("amount rated", str(run.amount))
    console.print(table)
    for example in bad[:10]:
        console.print(f"[yellow]record {example.position}:[/] {example.reason}")


def _rate_interactions(since: datetime | None, slugs: list[str] | None, batch: int, as_json: bool) -> None:
    from callvault.billing.from_interactions import InteractionRating, rate_from_interactions
    from callvault.cli import _database, user_errors
    from callvault.core import clock

    start = since or clock.now() - timedelta(days=40)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)  # the command line gives UTC times
    console = Console(stderr=as_json)
    db = _database()
    with user_errors():
        columns = (TextColumn("[bold]rating"), TextColumn("{task.fields[counts]}"))
        with Progress(*columns, console=console, transient=as_json) as bar:
            task = bar.add_task("rate", total=None, counts="")

            def show(done: InteractionRating) -> None:
                bar.update(task, counts=f"{done.run.read:,} read, {done.run.rated:,} rated")

            result = rate_from_interactions(db, since=start, slugs=slugs, batch_size=batch, on_progress=show)
    db.dispose()
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
        return
    table = Table("legs", "count", title=f"rating of call records ended since {start.isoformat()}")
    body = result.as_dict()
    for key in ("institutions", "read", "rated", "already_rated", "still_open", "bad_records"):
        table.add_row(key.replace("_", " "), f"{body[key]:,}")
    for reason, count in result.run.unrated.items():
        table.add_row(f"unrated: {reason}", f"{count:,}")
    table.add_row("amount rated", str(result.run.amount))
    console.print(table)


def _invoice(slug: str, month: str, out: Path, as_json: bool) -> None:
    from callvault.billing import documents, invoicing
    from callvault.cli import _database, user_errors
    from callvault.core.errors import NotFound
    from callvault.tenancy import service as tenancy

    db = _database()
    with user_errors(), db.scoped() as session:
        actor = tenancy.operator_principal(session, name="billing-invoice")
        institution = tenancy.get_by_slug(session, slug=slug)
        if institution is None or institution.is_operator:
            raise NotFound(f"no institution {slug!r}")
        operator_name = tenancy.current(session).name
        detail, created = invoicing.issue_invoice(session, actor=actor, institution_id=institution.id, month=month)
        paths = documents.write_documents(detail, institution.name, operator_name, out)
    db.dispose()
    if as_json:
        body = {"number": detail.number, "total": str(detail.total), "legs": detail.legs, "created": created}
        typer.echo(json.dumps(body | {"files": [str(p) for p in paths]}))
        return
    console = Console()
    verb = "issued" if created else "already issued; exported again"
    console.print(f"invoice {detail.number} {verb}: {detail.total} {detail.currency}, {detail.legs:,} legs")
    for p in paths:
        console.print(f"  {p}")


def _margin(month: str, slug: str | None, as_json: bool) -> None:
    from callvault.billing import invoicing
    from callvault.cli import _database, user_errors
    from callvault.core.errors import NotFound
    from callvault.tenancy import service as tenancy

    db = _database()
    with user_errors(), db.scoped() as session:
        actor = tenancy.operator_principal(session, name="billing-margin")
        institution_id = None
        if slug is not None:
            found = tenancy.get_by_slug(session, slug=slug)
            if found is None or found.is_operator:
                raise NotFound(f"no institution {slug!r}")
            institution_id = found.id
        rows = invoicing.margin_by_campaign(session, actor=actor, month=month, institution_id=institution_id)
    db.dispose()
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in rows]))
        return
    table = Table("institution", "campaign", "legs", "minutes", "price", "cost", "margin", "legs without cost")
    for r in rows:
        table.add_row(
            str(r.institution_id)[:8],
            str(r.campaign_id or "-")[:8],
            f"{r.legs:,}",
            str(r.billed_minutes),
            str(r.price),
            str(r.cost),
            str(r.margin),
            f"{r.legs_without_cost:,}",
        )
    Console().print(table)
