"""`callvault tenant export | verify-export | offboard | offboard-status`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    from collections.abc import Callable

    from callvault.core.db import Database

console = Console()
err = Console(stderr=True)


class RichExportProgress:
    """One bar per file (rows, or bytes for recordings); reused files are listed once."""

    def __init__(self, bar: Progress) -> None:
        self._bar = bar
        self._task: TaskID | None = None

    def file_started(self, path: str, total: int | None) -> None:
        if self._task is not None:
            self._bar.update(self._task, completed=self._bar.tasks[self._task].total or 0)
        if total == 0:  # nothing to do: show it done rather than a bar stuck at 0%
            self._bar.add_task(f"{path} [dim](empty)[/]", total=1, completed=1)
            self._task = None
            return
        self._task = self._bar.add_task(path, total=total)

    def advanced(self, n: int) -> None:
        if self._task is not None:
            self._bar.advance(self._task, n)

    def file_reused(self, path: str) -> None:
        self._bar.add_task(f"{path} [dim](kept, SHA-256 matches)[/]", total=1, completed=1)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=err,
    )


def register(tenant_app: typer.Typer, *, database: Callable[[], Database], fail: Callable[[str], typer.Exit]) -> None:
    """Add the hand-back and offboarding commands to `callvault tenant`."""

    @tenant_app.command("export")
    def tenant_export(
        slug: Annotated[str, typer.Argument(help="institution to export")],
        out: Annotated[Path, typer.Option("--out", help="directory (rerun with the same one to resume)")],
    ) -> None:
        """Write all of an institution's data, decrypted, with a signed manifest (resumable)."""
        from callvault.core.errors import DomainError
        from callvault.offboarding.export import run_export
        from callvault.tenancy import service as tenancy

        db = database()
        try:
            with db.scoped() as session:
                actor = tenancy.operator_principal(session)
            with _progress() as bar:
                result = run_export(
                    db,
                    actor=actor,
                    slug=slug,
                    out_dir=out,
                    progress=RichExportProgress(bar),
                )
        except DomainError as exc:
            raise fail(exc.detail) from None
        except OSError as exc:
            raise fail(f"cannot write the export: {exc.strerror} ({exc.filename})") from None
        console.print(
            f"exported [bold]{slug}[/]: {len(result.files)} files, {result.rows:,} rows "
            f"({result.written} written, {result.reused} kept from an earlier run) into {result.out_dir}\n"
            f"manifest SHA-256 {result.manifest_sha256}"
        )

    @tenant_app.command("verify-export")
    def tenant_verify_export(
        directory: Annotated[Path, typer.Argument(help="export directory")],
        public_key: Annotated[
            Path | None, typer.Option("--public-key", help="PEM key to trust instead of the one in the directory")
        ] = None,
    ) -> None:
        """Check an export's manifest signature and every file's SHA-256; exit 1 on any problem."""
        from callvault.offboarding.manifest import verify_export
        from callvault.security.checkpoints import load_public_key_pem

        key = load_public_key_pem(public_key.read_bytes()) if public_key else None
        result = verify_export(directory, public_key=key)
        if not result.ok:
            raise fail("export does not verify — " + "; ".join(result.problems))
        console.print(f"export OK: signature valid, {result.files_checked} files, {result.rows:,} rows match")

    @tenant_app.command("offboard")
    def tenant_offboard(
        slug: Annotated[str, typer.Argument(help="institution to offboard")],
        confirm: Annotated[str, typer.Option("--confirm", help="repeat the slug to confirm")],
        without_export: Annotated[
            bool, typer.Option("--without-export", help="offboard although no completed export exists")
        ] = False,
        batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="rows deleted per transaction")] = 1000,
        certificate_out: Annotated[
            Path | None, typer.Option("--certificate-out", help="where to write the signed certificate")
        ] = None,
    ) -> None:
        """Destroy an institution's keys (crypto-shred), delete its rows and files, and certify it (resumable)."""
        from callvault.core.errors import DomainError
        from callvault.offboarding.offboard import run_offboarding
        from callvault.offboarding.vault_hooks import key_shredder
        from callvault.tenancy import service as tenancy

        if confirm != slug:
            raise fail("--confirm must repeat the institution's slug exactly")
        db = database()
        try:
            with db.scoped() as session:
                actor = tenancy.operator_principal(session)
            with _progress() as bar:
                result = run_offboarding(
                    db,
                    actor=actor,
                    slug=slug,
                    shredder=key_shredder(),
                    without_export=without_export,
                    batch_size=batch_size,
                    certificate_out=certificate_out,
                    progress=RichExportProgress(bar),
                )
        except DomainError as exc:
            raise fail(exc.detail) from None
        console.print(
            f"offboarded [bold]{slug}[/]: keys destroyed, {sum(result.rows_deleted.values()):,} rows and "
            f"{result.files_deleted} files deleted, {result.numbers_released} number(s) back in the inventory\n"
            f"certificate: {result.certificate_path}"
        )

    @tenant_app.command("offboard-status")
    def tenant_offboard_status(
        slug: Annotated[str, typer.Argument()],
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Report an offboarding: recorded step and what is actually left (keys, rows, files). Exit 2 if unfinished."""
        from callvault.core.errors import DomainError
        from callvault.offboarding.offboard import observe
        from callvault.offboarding.vault_hooks import key_shredder

        db = database()
        try:
            status = observe(db, slug=slug, shredder=key_shredder())
        except DomainError as exc:
            raise fail(exc.detail) from None
        if as_json:
            typer.echo(json.dumps(status.to_dict(), indent=2))
        else:
            table = Table("item", "state")
            for key, value in status.summary():
                table.add_row(key, value)
            console.print(table)
            console.print(status.verdict)
        if not status.finished:
            raise typer.Exit(2)
