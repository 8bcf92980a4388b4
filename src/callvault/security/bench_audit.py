"""`callvault bench audit`: the database-backed audit chain and field encryption, next to baselines.

Appends go through `security.audit.record` (head row, hash chain, checkpoints) into a fresh SQLite file, in batches
of one transaction each; the baseline inserts the same rows with the same multi-row insert but without the chain.
The chain is then grown to `--verify-records` (1 M by default) and verified through `verify_tenant`.
"""

from __future__ import annotations

import json
import os
import resource
import tempfile
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from callvault.core import clock


def _setup(data_dir: Path) -> tuple[Any, Any, Any]:
    from callvault.config import get_settings
    from callvault.core.db import Database
    from callvault.migrations.runner import upgrade
    from callvault.security.principal import system_principal
    from callvault.tenancy import service as tenancy
    from callvault.tenancy.schemas import TenantCreate

    os.environ["CALLVAULT_DATA_DIR"] = str(data_dir)
    os.environ.pop("CALLVAULT_DATABASE_URL", None)
    os.environ.pop("CALLVAULT_DATABASE_ADMIN_URL", None)
    get_settings.cache_clear()
    settings = get_settings()
    upgrade(settings)
    db = Database(settings)
    with db.scoped() as session:
        read = tenancy.create_tenant(
            session, actor=tenancy.operator_principal(session), data=TenantCreate(slug="bench-bank", name="Bench Bank")
        )
    actor = system_principal(tenant_id=read.id, tenant_slug=read.slug, tenant_kind=read.kind, name="bench")
    return db, read.id, actor


def _append(db: Any, tenant_id: uuid.UUID, actor: Any, *, records: int, batch: int, chained: bool) -> float:
    from sqlalchemy import insert

    from callvault.core.ids import new_id
    from callvault.core.tenant_context import set_tenant
    from callvault.security import audit
    from callvault.security.audit_models import AuditEvent

    started = time.perf_counter()
    done = 0
    seq = 10_000_000_000  # baseline rows live far from the chain's sequence numbers
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        while done < records:
            size = min(batch, records - done)
            if chained:
                for _ in range(size):
                    audit.record(
                        session,
                        actor=actor,
                        action="contact.reveal",
                        object_type="contact",
                        object_id=uuid.uuid4(),
                        details={"field": "phone", "reason_code": "callback"},
                    )
            else:
                rows = []
                for _ in range(size):
                    seq += 1
                    at = clock.now()
                    rows.append(
                        {
                            "id": new_id(),
                            "created_at": at,
                            "tenant_id": tenant_id,
                            "seq": seq,
                            "prev_hash": "0" * 64,
                            "hash": "0" * 64,
                            "at": at,
                            "actor": actor.actor,
                            "action": "contact.reveal",
                            "object_type": "contact",
                            "object_id": str(uuid.uuid4()),
                            "outcome": "success",
                            "source_ip": "",
                            "request_id": "",
                            "details": {"field": "phone", "reason_code": "callback"},
                        }
                    )
                session.execute(insert(AuditEvent), rows)
            done += size
            session.commit()
    return records / (time.perf_counter() - started)


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the parallel verifier's workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _verify(db: Any, tenant_id: uuid.UUID) -> tuple[float, float, int, bool]:
    from callvault.core.tenant_context import set_tenant
    from callvault.security import audit

    with db.scoped() as session:
        set_tenant(session, tenant_id)
        started, cpu = time.perf_counter(), _cpu_seconds()
        result = audit.verify_tenant(session, tenant_id=tenant_id)
        return time.perf_counter() - started, _cpu_seconds() - cpu, result.records_checked, result.ok


def _field_rate(operations: int) -> tuple[float, float]:
    import os as _os

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from callvault.security.vault import FieldCipher, FieldContext, InMemoryKeyStore, Keyring, MasterKey

    keyring = Keyring(MasterKey(_os.urandom(32)), InMemoryKeyStore())
    tenant = str(uuid.uuid4())
    keyring.provision(tenant)
    cipher = FieldCipher(keyring)
    ctx = FieldContext(tenant, "contacts", "phone", str(uuid.uuid4()))
    started = time.perf_counter()
    for _ in range(operations):
        cipher.decrypt(cipher.encrypt("13812348000", context=ctx), context=ctx)
    ours = operations / (time.perf_counter() - started)
    raw, key = AESGCM(_os.urandom(32)), b"13812348000"
    started = time.perf_counter()
    for _ in range(operations):
        nonce = _os.urandom(12)
        raw.decrypt(nonce, raw.encrypt(nonce, key, None), None)
    return ours, operations / (time.perf_counter() - started)


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("audit")
    def bench_audit(
        records: Annotated[int, typer.Option("--records", min=100, help="appends per mode")] = 20_000,
        batch: Annotated[int, typer.Option("--batch", min=1, help="appends per transaction")] = 500,
        verify_records: Annotated[
            int, typer.Option("--verify-records", min=0, help="grow the chain to this size before timing verify")
        ] = 1_000_000,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Audit appends/s (chained vs the same rows inserted unchained), verification time, field crypto/s."""
        load = os.getloadavg()
        with tempfile.TemporaryDirectory(prefix="callvault-bench-audit-") as tmp:
            db, tenant_id, actor = _setup(Path(tmp))
            cpu = time.process_time()
            chained = _append(db, tenant_id, actor, records=records, batch=batch, chained=True)
            chained_per_cpu = records / (time.process_time() - cpu)
            single = _append(db, tenant_id, actor, records=min(records, 500), batch=1, chained=True)
            grow = verify_records - records - min(records, 500) - 1
            if grow > 0:  # setup for the verification figure, not timed
                _append(db, tenant_id, actor, records=grow, batch=5000, chained=True)
            verify_s, verify_cpu, checked, ok = _verify(db, tenant_id)
            cpu = time.process_time()
            plain = _append(db, tenant_id, actor, records=records, batch=batch, chained=False)
            plain_per_cpu = records / (time.process_time() - cpu)
            db.dispose()
        ours, raw = _field_rate(20_000)
        rows: list[dict[str, Any]] = [
            {
                "metric": "load average 1/5/15 min at start",
                "callvault": None,
                "baseline": None,
                "baseline_is": " / ".join(f"{x:.2f}" for x in load),
            },
            {
                "metric": f"audit appends/s, {batch} per transaction",
                "callvault": round(chained),
                "baseline": round(plain),
                "baseline_is": "same rows, same multi-row insert, no chain",
            },
            {
                "metric": "audit appends/s, one per transaction",
                "callvault": round(single),
                "baseline": None,
                "baseline_is": "",
            },
            {
                "metric": f"verify chain of {checked} records (s)",
                "callvault": round(verify_s, 3),
                "baseline": None,
                "baseline_is": f"chain ok: {ok}; per 1 M records: {verify_s / max(checked, 1) * 1e6:.1f} s",
            },
            {
                "metric": f"verify chain of {checked} records (CPU s, all processes)",
                "callvault": round(verify_cpu, 3),
                "baseline": None,
                "baseline_is": f"workers: {os.cpu_count()}",
            },
            {
                "metric": f"audit appends per CPU-s, {batch} per transaction",
                "callvault": round(chained_per_cpu),
                "baseline": round(plain_per_cpu),
                "baseline_is": "same rows, same multi-row insert, no chain",
            },
            {
                "metric": "field encrypt+decrypt/s",
                "callvault": round(ours),
                "baseline": round(raw),
                "baseline_is": "raw AES-GCM without envelope/AAD",
            },
        ]
        if as_json:
            typer.echo(json.dumps(rows))
            return
        table = Table("metric", "CallVault", "baseline", "baseline is", title="callvault bench audit (SQLite)")
        for r in rows:
            ours_text = "-" if r["callvault"] is None else str(r["callvault"])
            table.add_row(
                r["metric"], ours_text, "-" if r["baseline"] is None else str(r["baseline"]), r["baseline_is"]
            )
        Console().print(table)
