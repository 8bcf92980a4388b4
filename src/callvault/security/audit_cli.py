"""`callvault audit export`: the institution's audit chain as verifiable files (docs/audit-verification.md)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from callvault.core import clock
from callvault.security.canonical import format_time


def _instant(name: str, text: str | None) -> datetime | None:
    from callvault.cli import fail

    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"--{name} must be an ISO 8601 time with offset, e.g. 2026-12-01T00:00:00Z") from None
    if value.utcoffset() is None:
        raise fail(f"--{name} needs a UTC offset, e.g. 2026-12-01T00:00:00Z")
    return value


def _file_entry(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return {"sha256": digest.hexdigest(), "bytes": path.stat().st_size}


def register(audit_app: typer.Typer) -> None:
    @audit_app.command("export")
    def audit_export_command(
        tenant: Annotated[str, typer.Option("--tenant", help="institution slug, or 'operator'")],
        out: Annotated[Path, typer.Option("--out", help="directory to create (must be empty or absent)")],
        since: Annotated[
            str | None, typer.Option("--since", help="ISO time; starts after the checkpoint before")
        ] = None,
        until: Annotated[str | None, typer.Option("--until", help="ISO time; records before it")] = None,
    ) -> None:
        """Write audit.jsonl, checkpoints.jsonl, audit-signing-public.pem and manifest.json (SHA-256 of each)."""
        from callvault.cli import _bind_system, _database, console, fail, user_errors
        from callvault.security import audit, audit_export

        since_at, until_at = _instant("since", since), _instant("until", until)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise fail(f"{out} exists and is not an empty directory")
        db = _database()
        with db.scoped() as session, user_errors():
            actor = _bind_system(session, tenant)
            window = audit_export.begin_export(session, actor=actor, since=since_at, until=until_at, channel="cli")
            checkpoints = audit_export.checkpoints_in(session, window)
        out.mkdir(parents=True, exist_ok=True)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console) as progress, (out / "audit.jsonl").open("wb") as f:
            task = progress.add_task("audit records", total=window.count)
            for n, record in enumerate(audit_export.stream_records(db, window), start=1):
                f.write(audit_export.jsonl_line(record))
                if n % 1000 == 0:
                    progress.update(task, completed=n)
            progress.update(task, completed=window.count)
        (out / "checkpoints.jsonl").write_bytes(b"".join(audit_export.jsonl_line(cp) for cp in checkpoints))
        (out / "audit-signing-public.pem").write_bytes(audit.signer().public_key_pem())
        manifest = {
            "format": "callvault.audit.export.v1",
            "tenant_id": str(window.tenant_id),
            "tenant_slug": tenant,
            "first_seq": window.first_seq,
            "last_seq": window.last_seq,
            "records": window.count,
            "anchor_checkpoint_seq": window.anchor.seq if window.anchor else None,
            "since": format_time(since_at) if since_at else None,
            "until": format_time(until_at) if until_at else None,
            "exported_at": format_time(clock.now()),
            "key_id": audit.signer().key_id,
            "files": {name: _file_entry(out / name) for name in audit_export.EXPORT_FILES},
        }
        # Written last: a directory with a manifest is a complete export.
        (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        db.dispose()
        console.print(f"exported records {window.first_seq}..{window.last_seq} of [bold]{tenant}[/] to {out}")

    @audit_app.command("webhook")
    def audit_webhook_command(
        tenant: Annotated[str, typer.Option("--tenant", help="institution slug")],
        url: Annotated[str, typer.Option("--url", help="the institution's https endpoint for checkpoints")],
    ) -> None:
        """Send every signed checkpoint of the institution to its webhook (HMAC-signed); prints the key once."""
        from callvault.cli import _bind_system, _database, console, fail, user_errors
        from callvault.security import witness
        from callvault.tenancy import service as tenancy
        from callvault.tenancy.schemas import TenantUpdate

        db = _database()
        with db.scoped() as session, user_errors():
            _bind_system(session, tenant)
            found = tenancy.get_by_slug(session, slug=tenant)
            assert found is not None  # _bind_system checked it
            try:
                settings, secret = witness.webhook_settings(found.id, url, current=dict(found.settings or {}))
            except ValueError as exc:
                raise fail(str(exc)) from None
            operator = tenancy.operator_principal(session)
            tenancy.update_tenant(session, actor=operator, tenant_id=found.id, data=TenantUpdate(settings=settings))
        db.dispose()
        console.print(f"checkpoints of [bold]{tenant}[/] go to {url}\nwebhook key: [bold]{secret}[/] (shown once)")
