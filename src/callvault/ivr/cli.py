"""`callvault ivr check`: validate a flow file (JSON or YAML) as publishing would, before uploading it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


def register(app: typer.Typer) -> None:
    ivr_app = typer.Typer(no_args_is_help=True, help="IVR flows.")
    app.add_typer(ivr_app, name="ivr")

    @ivr_app.command("check")
    def check(
        file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="flow document (.json, .yaml)")],
        institution: Annotated[
            str | None, typer.Option(help="check queues and prompt files of this institution (database)")
        ] = None,
        queue: Annotated[list[str] | None, typer.Option(help="a known queue name (without --institution)")] = None,
        prompts: Annotated[Path | None, typer.Option(help="prompt directory (without --institution)")] = None,
    ) -> None:
        """Print every problem of the flow, per node; exit 1 if there is any."""
        from callvault.cli import _database, user_errors
        from callvault.core.errors import FieldError, InvalidInput
        from callvault.ivr import prompts as prompt_files
        from callvault.ivr.flow import parse_document
        from callvault.ivr.handoff import queue_ids
        from callvault.ivr.validator import validate
        from callvault.tenancy import service as tenancy

        kind = "application/yaml" if file.suffix.lower() in (".yaml", ".yml") else "application/json"
        errors: list[FieldError] = []
        with user_errors():
            try:
                doc = parse_document(file.read_bytes(), content_type=kind)
            except InvalidInput as exc:
                errors = exc.errors
            else:
                if institution is not None:
                    db = _database()
                    with db.scoped() as session:
                        tenancy.bind(session, slug=institution)
                        known = set(queue_ids(session))
                    db.dispose()
                    root = prompt_files.prompt_root(institution)
                else:
                    known, root = set(queue or []), prompts or file.parent
                errors = validate(doc, known_queues=known, prompt_exists=prompt_files.exists_in(root))
        console = Console()
        if not errors:
            console.print(f"[green]{file.name}: the flow can be published[/]")
            return
        table = Table("where", "problem", title=f"{file.name}: {len(errors)} problem(s)")
        for e in errors:
            table.add_row(e.field, e.reason)
        console.print(table)
        raise typer.Exit(1)
