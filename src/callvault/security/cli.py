"""`callvault tenant rotate-key` and `callvault tenant reencrypt`: data-key rotation for one institution."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from callvault.core.db import Database

console = Console()


def register(tenant_app: typer.Typer, *, database: Callable[[], Database], fail: Callable[..., typer.Exit]) -> None:
    """Add the key commands to the `callvault tenant` group."""

    @tenant_app.command("rotate-key")
    def rotate_key(slug: Annotated[str, typer.Argument(help="institution slug, or 'operator'")]) -> None:
        """Create a new data-key version for new writes; old values still decrypt until `reencrypt` moves them."""
        from callvault.security.rekey import rotate_data_key
        from callvault.tenancy import service as tenancy

        db = database()
        with db.scoped() as session:
            found = tenancy.get_by_slug(session, slug=slug)
            if found is None:
                raise fail(f"no institution {slug}")
            version = rotate_data_key(session, actor=tenancy.operator_principal(session), tenant_id=found.id)
        console.print(f"{slug}: data key version [bold]{version}[/] is now used for new writes")

    @tenant_app.command("reencrypt")
    def reencrypt(
        slug: Annotated[str, typer.Argument(help="institution slug, or 'operator'")],
        batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="rows per committed batch")] = 500,
        retire: Annotated[
            bool, typer.Option("--retire", help="delete old key versions once nothing uses them")
        ] = False,
    ) -> None:
        """Move every encrypted value to the current data-key version; safe to rerun after a crash."""
        from callvault.security.rekey import count_rows, reencrypt_tenant
        from callvault.tenancy import service as tenancy

        db = database()
        with db.scoped() as session:
            found = tenancy.get_by_slug(session, slug=slug)
            if found is None:
                raise fail(f"no institution {slug}")
            actor = tenancy.operator_principal(session)
        totals = count_rows(db, tenant_id=found.id)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as bar:
            tasks = {table: bar.add_task(table, total=total) for table, total in totals.items()}
            result = reencrypt_tenant(
                db,
                actor=actor,
                tenant_id=found.id,
                batch_size=batch_size,
                retire=retire,
                progress=lambda table, rows: bar.advance(tasks[table], rows),
            )
        console.print(
            f"{slug}: {result.moved} value(s) moved to data key version {result.version}, "
            f"{result.scanned} row(s) checked, {result.remaining_old} value(s) left under older versions"
            + (f"; retired version(s) {', '.join(map(str, result.retired))}" if result.retired else "")
        )
        if result.failed:
            raise fail(
                f"{len(result.failed)} value(s) failed their integrity check and were not moved "
                f"(recorded as vault.integrity_failure): {', '.join(result.failed[:5])}"
            )


def register_retention(app: typer.Typer, *, database: Callable[[], Database], fail: Callable[..., typer.Exit]) -> None:
    """Add `callvault retention purge`."""
    retention_app = typer.Typer(no_args_is_help=True, help="Retention periods of customer data.")
    app.add_typer(retention_app, name="retention")

    @retention_app.command("purge")
    def purge(
        tenant: Annotated[str | None, typer.Option("--tenant", help="one institution; default all")] = None,
    ) -> None:
        """Remove customer values older than the institution's retention period per data class (audited)."""
        from rich.table import Table

        from callvault.core.errors import DomainError
        from callvault.security.principal import system_principal
        from callvault.security.retention import purge_tenant
        from callvault.tenancy import service as tenancy
        from callvault.tenancy.models import TenantKind

        db = database()
        with db.scoped() as session:
            tenancy.ensure_operator(session)
            if tenant:
                found = tenancy.get_by_slug(session, slug=tenant)
                if found is None:
                    raise fail(f"no institution {tenant}")
                targets = [found]
            else:
                targets = [tenancy.get(session, tenant_id=t) for t in tenancy.all_tenant_ids(session)]
            targets = [t for t in targets if t.kind == TenantKind.INSTITUTION.value]
        table = Table("institution", "values removed", "by field")
        for inst in targets:
            actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind, name="retention")
            try:
                result = purge_tenant(db, actor=actor, tenant_id=inst.id, settings=inst.settings)
            except DomainError as exc:
                raise fail(f"{inst.slug}: {exc.detail}") from None
            by_field = ", ".join(f"{k}={v}" for k, v in result.removed.items() if v) or "-"
            table.add_row(inst.slug, str(result.total), by_field)
        console.print(table)
