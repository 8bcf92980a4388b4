"""`callvault campaign list|approve|start|pause`: the campaign life cycle from the command line (audited as the
platform acting for the named person)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

Tenant = Annotated[str, typer.Option("--tenant", help="institution slug")]
CampaignId = Annotated[uuid.UUID, typer.Argument(help="campaign id")]


def _act(tenant: str, campaign_id: uuid.UUID, action: str, by: str) -> None:
    from callvault.campaigns import service
    from callvault.cli import _database, user_errors
    from callvault.security.principal import system_principal
    from callvault.tenancy import service as tenancy

    db = _database()
    with user_errors(), db.scoped() as session:
        inst = tenancy.bind(session, slug=tenant)
        actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind, name=by)
        functions = {
            "approve": service.approve_campaign,
            "start": service.start_campaign,
            "pause": service.pause_campaign,
        }
        read = functions[action](session, actor=actor, campaign_id=campaign_id)
    db.dispose()
    Console().print(f"campaign {read.id} ({read.name}): {read.status}")


def register(app: typer.Typer) -> None:
    campaign_app = typer.Typer(no_args_is_help=True, help="Outbound campaigns.")
    app.add_typer(campaign_app, name="campaign")

    @campaign_app.command("list")
    def list_campaigns(tenant: Tenant, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """The institution's campaigns with their state and spend."""
        from callvault.campaigns import service
        from callvault.cli import _database, user_errors
        from callvault.security.principal import system_principal
        from callvault.tenancy import service as tenancy

        db = _database()
        rows = []
        with user_errors(), db.scoped() as session:
            inst = tenancy.bind(session, slug=tenant)
            actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind)
            cursor = None
            while True:
                page = service.list_campaigns(session, actor=actor, limit=200, cursor=cursor)
                rows += page.items
                cursor = page.next_cursor
                if cursor is None:
                    break
        db.dispose()
        if as_json:
            typer.echo(json.dumps([r.model_dump(mode="json") for r in rows], ensure_ascii=False))
            return
        table = Table("id", "name", "purpose", "mode", "status", "lines", "spent", title=f"campaigns of {tenant}")
        for r in rows:
            table.add_row(
                str(r.id),
                r.name,
                r.purpose.value,
                r.dialing_mode.value,
                r.status.value,
                str(r.max_lines),
                str(r.spent_money),
            )
        Console().print(table)

    @campaign_app.command("approve")
    def approve(
        campaign_id: CampaignId,
        tenant: Tenant,
        by: Annotated[str, typer.Option("--by", help="who approves (recorded in the audit trail)")],
    ) -> None:
        """Approve a draft campaign (four eyes: not its creator or last editor)."""
        _act(tenant, campaign_id, "approve", by)

    @campaign_app.command("start")
    def start(campaign_id: CampaignId, tenant: Tenant, by: Annotated[str, typer.Option("--by")] = "cli") -> None:
        """Start or resume an approved or paused campaign."""
        _act(tenant, campaign_id, "start", by)

    @campaign_app.command("pause")
    def pause(campaign_id: CampaignId, tenant: Tenant, by: Annotated[str, typer.Option("--by")] = "cli") -> None:
        """Pause a running campaign."""
        _act(tenant, campaign_id, "pause", by)
