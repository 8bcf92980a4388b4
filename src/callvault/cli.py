"""The `callvault` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from callvault.config import get_settings
from callvault.core.errors import DomainError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from callvault.core.db import Database
    from callvault.security.principal import Principal

app = typer.Typer(
    name="callvault", no_args_is_help=True, add_completion=False, help="CallVault contact-center platform."
)
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that print side-by-side tables.")
app.add_typer(bench_app, name="bench")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")
tenant_app = typer.Typer(no_args_is_help=True, help="Institutions (tenants).")
app.add_typer(tenant_app, name="tenant")
user_app = typer.Typer(no_args_is_help=True, help="Users of the operator or of an institution.")
app.add_typer(user_app, name="user")
audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit trail.")
app.add_typer(audit_app, name="audit")
apiclient_app = typer.Typer(no_args_is_help=True, help="API clients of an institution's IT.")
app.add_typer(apiclient_app, name="apiclient")
vault_app = typer.Typer(no_args_is_help=True, help="The master key that wraps every institution's data keys.")
app.add_typer(vault_app, name="vault")

console = Console()
err = Console(stderr=True, soft_wrap=True)  # one error, one line (scripts grep it)


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn invalid input and domain errors into one clear line and exit code 1 (never a traceback)."""
    try:
        yield
    except ValidationError as exc:
        raise fail(_validation_message(exc)) from None
    except DomainError as exc:
        raise fail(exc.detail) from None


def _database() -> Database:
    from callvault.core.db import Database
    from callvault.migrations.runner import is_at_head

    settings = get_settings()
    db = Database(settings)
    try:
        at_head = is_at_head(db.engine)
    except Exception as exc:
        raise fail(f"cannot open the database: {type(exc).__name__}") from exc
    if not at_head:
        raise fail("the database schema is not current; run `callvault db upgrade`")
    _require_master_key()
    return db


def _require_master_key() -> None:
    """Refuse to run with a missing or wrong master key: one line, exit code 2."""
    from callvault.security.errors import VaultKeyError
    from callvault.security.vault.runtime import require_master_key

    try:
        require_master_key(get_settings())
    except VaultKeyError as exc:
        raise fail(str(exc), code=2) from None


@app.command()
def version() -> None:
    """Print the CallVault version."""
    from callvault import __version__

    typer.echo(__version__)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Create or migrate the schema (and, on PostgreSQL, the application role and row-level security)."""
    from callvault.migrations.runner import upgrade

    settings = get_settings()
    upgrade(settings, revision)
    _require_master_key()
    from callvault.core.db import Database
    from callvault.security.vault.runtime import provision_missing_keys
    from callvault.tenancy import service as tenancy

    db = Database(settings)
    with db.scoped() as session:
        tenancy.ensure_operator(session)
        provisioned = provision_missing_keys(session, tenancy.all_tenant_ids(session))
        roles = tenancy.sync_builtin_roles_everywhere(session)
        session.commit()
    db.dispose()
    if provisioned:
        console.print(f"created data and index keys for {provisioned} existing tenant(s)")
    if roles:
        console.print(f"brought {roles} built-in role(s) up to date with the permission catalogue")
    console.print("[green]database is at the latest schema[/]")


@vault_app.command("init-key")
def vault_init_key() -> None:
    """Create a new master key file (mode 0600) at CALLVAULT_MASTER_KEY_FILE or data_dir/master.key.

    Only for a new installation: data wrapped under another master key cannot be read with a new one.
    """
    from callvault.security.errors import VaultKeyError
    from callvault.security.vault import MasterKey
    from callvault.security.vault.runtime import stored_kek_ids

    settings = get_settings()
    path = settings.effective_master_key_file
    try:
        existing = stored_kek_ids(settings)
    except Exception:  # no database or no key table yet: a new installation
        existing = []
    if existing:
        raise fail(f"the database holds keys wrapped by {', '.join(existing)}; a new master key could not read them")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        key = MasterKey.generate_to(path)
    except VaultKeyError as exc:
        raise fail(str(exc)) from None
    console.print(f"created master key [bold]{key.key_id}[/] in {path}; back it up apart from the database")


@tenant_app.command("create")
def tenant_create(
    slug: Annotated[str, typer.Argument(help="lower-case id, e.g. acme-bank")],
    name: Annotated[str, typer.Option("--name", help="display name")],
) -> None:
    """Create an institution with its built-in roles."""
    from callvault.tenancy import service as tenancy
    from callvault.tenancy.schemas import TenantCreate

    db = _database()
    with db.scoped() as session, user_errors():
        data = TenantCreate(slug=slug, name=name)
        read = tenancy.create_tenant(session, actor=tenancy.operator_principal(session), data=data)
    console.print(f"created institution [bold]{read.slug}[/] ({read.id})")


@tenant_app.command("list")
def tenant_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List institutions."""
    from sqlalchemy import select

    from callvault.tenancy.models import Tenant
    from callvault.tenancy.schemas import TenantRead

    db = _database()
    with db.scoped() as session:
        rows = [TenantRead.model_validate(t) for t in session.scalars(select(Tenant).order_by(Tenant.slug))]
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in rows]))
        return
    table = Table("slug", "name", "kind", "status", "id")
    for r in rows:
        table.add_row(r.slug, r.name, r.kind, r.status, str(r.id))
    console.print(table)


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument()],
    tenant: Annotated[str, typer.Option("--tenant", help="institution slug, or 'operator'")],
    role: Annotated[list[str], typer.Option("--role", help="role name; repeatable")],
    display_name: Annotated[str, typer.Option("--display-name")] = "",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
) -> None:
    """Create a user (the first administrator of an institution, or operator staff)."""
    from sqlalchemy import select

    from callvault.identity import service as identity
    from callvault.identity.models import Role
    from callvault.identity.schemas import UserCreate

    password = (
        sys.stdin.readline().rstrip("\n")
        if password_stdin
        else typer.prompt("password", hide_input=True, confirmation_prompt=True)
    )
    db = _database()
    with db.scoped() as session, user_errors():
        actor = _bind_system(session, tenant)
        roles = {r.name: r.id for r in session.scalars(select(Role))}
        unknown = [r for r in role if r not in roles]
        if unknown:
            raise fail(f"unknown role(s): {', '.join(unknown)}; known: {', '.join(sorted(roles))}")
        read = identity.create_user(
            session,
            actor=actor,
            data=UserCreate(
                username=username,
                display_name=display_name,
                password=password,
                role_ids=[roles[r] for r in role],
            ),
        )
    console.print(f"created user [bold]{read.username}[/] in {tenant} ({read.id})")


@user_app.command("reset-2fa")
def user_reset_2fa(
    username: Annotated[str, typer.Argument()],
    tenant: Annotated[str, typer.Option("--tenant")],
) -> None:
    """Remove a user's second factor so they enrol again at next login."""
    from callvault.identity import service as identity

    db = _database()
    with db.scoped() as session, user_errors():
        actor = _bind_system(session, tenant)
        user = identity.get_user_by_username(session, username=username)
        if user is None:
            raise fail(f"no user {username} in {tenant}")
        identity.reset_totp(session, actor=actor, user_id=user.id)
    console.print(f"second factor of [bold]{username}[/] removed; it must be enrolled at next login")


@user_app.command("disable-inactive")
def user_disable_inactive(
    days: Annotated[int, typer.Option("--days", min=1, help="inactivity after which accounts are disabled")] = 90,
) -> None:
    """Disable accounts of every tenant not used for DAYS days (run daily from cron or a systemd timer)."""
    from callvault.identity import auth
    from callvault.tenancy import service as tenancy

    db = _database()
    total = 0
    with db.scoped() as session:
        for tenant_id in tenancy.all_tenant_ids(session):
            found = tenancy.get(session, tenant_id=tenant_id)
            actor = _bind_system(session, found.slug)
            total += len(auth.disable_inactive_users(session, actor=actor, inactive_days=days))
    console.print(f"disabled {total} account(s) unused for {days} days")


@audit_app.command("verify")
def audit_verify(
    tenant: Annotated[str | None, typer.Option("--tenant", help="one institution (or 'operator'); default all")] = None,
) -> None:
    """Recompute each tenant's hash chain and check its signed checkpoints; exit 1 naming the first bad record."""
    from callvault.core.tenant_context import set_tenant
    from callvault.security import audit, witness
    from callvault.tenancy import service as tenancy

    db = _database()
    witness_dir = get_settings().audit_witness_dir
    table = Table("tenant", "records", "checkpoints", "result", "witness")
    bad = []
    with db.scoped() as session:
        tenancy.ensure_operator(session)
        if tenant:
            found = tenancy.get_by_slug(session, slug=tenant)
            if found is None:
                raise fail(f"no institution {tenant}")
            targets = [(found.id, found.slug)]
        else:
            targets = [(t, tenancy.get(session, tenant_id=t).slug) for t in tenancy.all_tenant_ids(session)]
        for tenant_id, slug in targets:
            set_tenant(session, tenant_id)
            result = audit.verify_tenant(session, tenant_id=tenant_id)
            problems = []
            if witness_dir is not None:
                problems = witness.compare_with_directory(witness_dir, tenant_id, audit.stored_checkpoints(session))
            session.rollback()
            verdict = "ok" if result.ok else f"FAILED at seq {result.first_bad_seq}: {result.reason} ({result.detail})"
            seen = "-" if witness_dir is None else ("ok" if not problems else "FAILED: " + "; ".join(problems[:3]))
            table.add_row(slug, str(result.records_checked), str(result.checkpoints_checked), verdict, seen)
            if not result.ok:
                bad.append(f"{slug}: first bad record seq {result.first_bad_seq} ({result.reason})")
            if problems:
                bad.append(f"{slug}: witness disagrees: {problems[0]}")
    console.print(table)
    if bad:
        raise fail("audit chain broken — " + "; ".join(bad))


@apiclient_app.command("create")
def apiclient_create(
    name: Annotated[str, typer.Argument()],
    tenant: Annotated[str, typer.Option("--tenant")],
    permission: Annotated[list[str], typer.Option("--permission", help="repeatable")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create an API client for an institution's IT; prints the key id and the secret once."""
    from callvault.identity import api_clients
    from callvault.identity.schemas import ApiClientCreate

    db = _database()
    with db.scoped() as session, user_errors():
        actor = _bind_system(session, tenant)
        created = api_clients.create_client(
            session, actor=actor, data=ApiClientCreate(name=name, permissions=permission)
        )
    if as_json:
        typer.echo(json.dumps({"key_id": created.key_id, "secret": created.secret, "id": str(created.id)}))
    else:
        console.print(f"key id: [bold]{created.key_id}[/]\nsecret: [bold]{created.secret}[/] (shown once)")


def _bind_system(session: Session, slug: str) -> Principal:
    from callvault.core.tenant_context import set_tenant
    from callvault.security.principal import system_principal
    from callvault.tenancy import service as tenancy

    tenancy.ensure_operator(session)
    found = tenancy.get_by_slug(session, slug=slug)
    if found is None:
        raise fail(f"no institution {slug}")
    set_tenant(session, found.id)
    return system_principal(tenant_id=found.id, tenant_slug=found.slug, tenant_kind=found.kind)


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


@app.command()
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Run the web/API server."""
    from callvault.main import run_server

    run_server(get_settings(), _database(), host=host, port=port)


@app.command()
def worker(
    metrics_port: Annotated[int, typer.Option(help="serve /metrics on 127.0.0.1:PORT (0: off)")] = 0,
) -> None:
    """Run only the background services (webhooks, trigger worker, campaigns, rating), without the web server;
    several worker processes may run at once (docs/services.md). Stops cleanly on SIGTERM or Ctrl-C."""
    from callvault.logging import configure
    from callvault.services.host import run_until_signalled, stop_signals
    from callvault.services.loops import build_services

    settings = get_settings()
    configure(level=settings.log_level, json=settings.log_json)
    db = _database()
    services = build_services(settings, db)
    if not services.host.names:
        raise fail("every service is disabled (CALLVAULT_SERVICE_* settings)")
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1")
    received = stop_signals()
    services.host.start()
    err.print(f"services running: {', '.join(services.host.names)} (Ctrl-C or SIGTERM stops them)")
    run_until_signalled(services.host, received)
    db.dispose()


@app.command()
def demo(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    seed_only: Annotated[bool, typer.Option("--seed-only", help="seed and exit without serving")] = False,
    sip_port: Annotated[
        int | None, typer.Option(help="also run the SIP front (Kamailio) on this UDP port, with a demo DID and phone")
    ] = None,
    sip_worker: Annotated[str, typer.Option(help="the media worker the SIP front sends calls to")] = "127.0.0.1:5600",
    load: Annotated[
        bool, typer.Option("--load/--no-load", help="simulated callers and agents on the simulated engine")
    ] = True,
) -> None:
    """Seed a demo (two institutions, users for every role, queues, IVR flow, a care list and a campaign each) on
    the embedded default and serve it, with simulated traffic on the wallboard."""
    from callvault.demo import run_demo
    from callvault.security.errors import VaultKeyError

    try:
        run_demo(host=host, port=port, serve=not seed_only, sip_port=sip_port, sip_worker=sip_worker, load=load)
    except VaultKeyError as exc:
        raise fail(str(exc), code=2) from None


def _register_key_commands() -> None:
    from callvault.security.cli import register, register_retention

    register(tenant_app, database=_database, fail=fail)
    register_retention(app, database=_database, fail=fail)


_register_key_commands()


def _register_handback() -> None:
    from callvault.offboarding.cli import register

    register(tenant_app, database=_database, fail=fail)


_register_handback()


def _register_benchmarks() -> None:
    """Each domain contributes its `callvault bench ...` command."""
    from callvault.acd.cli import register as register_acd_bench
    from callvault.contacts.cli import register as register_import_bench
    from callvault.dialer.cli import register as register_dialer_bench
    from callvault.security.bench_audit import register as register_audit_bench
    from callvault.trigger.cli import register as register_trigger_bench

    register_acd_bench(bench_app)
    register_audit_bench(bench_app)
    register_import_bench(bench_app)
    register_dialer_bench(bench_app)
    register_trigger_bench(bench_app)


_register_benchmarks()


def _register_domain_commands() -> None:
    from callvault.billing.cli import register as register_billing
    from callvault.campaigns.cli import register as register_campaigns
    from callvault.contacts.cli import register_commands as register_contacts
    from callvault.ivr.cli import register as register_ivr
    from callvault.security.audit_cli import register as register_audit_commands
    from callvault.sipedge.cli import register as register_sip_edge

    register_audit_commands(audit_app)
    register_contacts(app)
    register_ivr(app)
    register_billing(app)
    register_campaigns(app)
    register_sip_edge(app)


_register_domain_commands()


def main() -> None:
    app()
