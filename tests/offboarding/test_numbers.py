"""Offboarding hands the institution's numbers (DIDs) back to the operator's inventory, once, in its own phase."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callvault.core.db import Database
from callvault.core.errors import Conflict
from callvault.core.tenant_context import set_tenant
from callvault.offboarding import service as offboarding
from callvault.offboarding.offboard import Step, _Offboarding, _Quiet, observe, run_offboarding
from callvault.offboarding.vault_hooks import key_shredder
from callvault.security import audit
from callvault.security.audit_models import AuditEvent
from callvault.sipedge import directory
from callvault.sipedge import service as sip
from callvault.sipedge.models import SipDid
from callvault.sipedge.schemas import DidAssign, EntryKind
from callvault.tenancy import service as tenancy
from tests.fixtures import World

pytestmark = pytest.mark.sec("SEC-07")


def _number() -> str:
    return f"+8610{int(uuid.uuid4()) % 10**8:08d}"


def _assign(db: Database, institution_id: uuid.UUID, number: str, entry: str = "main") -> uuid.UUID:
    with db.scoped() as session:
        operator = tenancy.operator_principal(session)
        data = DidAssign(number=number, institution_id=institution_id, entry_kind=EntryKind.IVR, entry=entry)
        return sip.assign_did(session, actor=operator, data=data).id


def _dids(db: Database, ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[Any, ...]]:
    with db.scoped() as session:
        rows = session.scalars(select(SipDid).where(SipDid.id.in_(ids))).all()
        return {r.id: (r.number, r.institution_id, r.entry_kind, r.entry) for r in rows}


def _offboard(db: Database, slug: str, tmp_path: Path) -> Any:
    with db.scoped() as session:
        actor = tenancy.operator_principal(session)
    return run_offboarding(
        db, actor=actor, slug=slug, shredder=key_shredder(), without_export=True, certificate_out=tmp_path / "c.json"
    )


def _operator_records(db: Database, world: World, object_ids: list[str]) -> list[AuditEvent]:
    with db.scoped() as session:
        set_tenant(session, world.operator_actor()[1])
        records = session.scalars(
            select(AuditEvent).where(AuditEvent.object_id.in_(object_ids)).order_by(AuditEvent.seq)
        ).all()
        session.expunge_all()
        return list(records)


def test_offboarding_releases_the_institutions_numbers_and_leaves_the_others(
    db: Database, world: World, tmp_path: Path
) -> None:
    leaving, staying = world.institution(roles=()), world.institution(roles=())
    numbers = [_number(), _number()]
    mine = [_assign(db, leaving.id, n) for n in numbers]
    theirs = _assign(db, staying.id, _number(), entry="cards")
    before_theirs = _dids(db, [theirs])

    result = _offboard(db, leaving.slug, tmp_path)

    assert result.numbers_released == 2
    assert result.certificate["certificate"]["numbers_released"] == 2
    released = _dids(db, mine)
    assert sorted(v[0] for v in released.values()) == sorted(numbers)  # still in the inventory ...
    assert all(v[1:] == (None, None, None) for v in released.values())  # ... unassigned, no entry point
    assert _dids(db, [theirs]) == before_theirs
    front = {d.number for d in directory.load(db).dids}
    assert before_theirs[theirs][0] in front and not front & set(numbers)

    # Recorded in the operator's chain: one release per number (ids only) and the phase with its count.
    records = _operator_records(db, world, [str(i) for i in mine] + [str(leaving.id)])
    releases = [r for r in records if r.action == "sip.did.released"]
    assert sorted(r.object_id for r in releases) == sorted(str(i) for i in mine)
    assert all(r.details["reason"] == "offboarding" for r in releases)
    assert not any(n in str(r.details) for r in records for n in numbers)
    phase = [r.details for r in records if r.action == "tenant.offboard" and r.details["phase"] == "numbers_released"]
    assert phase == [{"phase": "numbers_released", "numbers": 2}]
    completed = [r.details for r in records if r.action == "tenant.offboard" and r.details["phase"] == "completed"]
    assert completed[0]["numbers_released"] == 2
    with db.scoped() as session:
        set_tenant(session, world.operator_actor()[1])
        assert audit.verify_tenant(session, tenant_id=world.operator_actor()[1]).ok
        session.rollback()
        set_tenant(session, leaving.id)
        institution_actions = set(session.scalars(select(AuditEvent.action)))
    assert "sip.did.released" not in institution_actions
    assert observe(db, slug=leaving.slug, shredder=key_shredder()).numbers_assigned == 0

    # The numbers are the operator's again: one goes to the other institution, with its own entry point.
    reassigned = _assign(db, staying.id, numbers[0], entry="welcome")
    assert reassigned == mine[0]
    assert _dids(db, [reassigned])[reassigned][1:] == (staying.id, "ivr", "welcome")
    with db.scoped() as session:
        operator = tenancy.operator_principal(session)
        again = DidAssign(number=numbers[0], institution_id=leaving.id, entry_kind=EntryKind.IVR, entry="main")
        with pytest.raises(Conflict):
            sip.assign_did(session, actor=operator, data=again)

    # A second run changes nothing: same count, no further releases.
    assert _offboard(db, leaving.slug, tmp_path).numbers_released == 2
    after = _operator_records(db, world, [str(i) for i in mine])
    assert len([r for r in after if r.action == "sip.did.released"]) == 2


def test_a_run_stopped_after_the_release_is_finished_without_counting_twice(
    db: Database, world: World, tmp_path: Path
) -> None:
    inst = world.institution(roles=())
    mine = [_assign(db, inst.id, _number()) for _ in range(3)]
    with db.scoped() as session:
        actor = tenancy.operator_principal(session)
        ref = offboarding.start_offboarding(session, actor=actor, slug=inst.slug, without_export=True)
    run = _Offboarding(db, actor, ref, key_shredder(), _Quiet())
    run.destroy_keys()
    run.delete_rows(100)
    run.delete_files()
    run.release_numbers()
    run.release_numbers()  # the step is recorded: nothing happens twice
    status = observe(db, slug=inst.slug, shredder=key_shredder())
    assert status.step == Step.NUMBERS_RELEASED.value and status.consistent and not status.finished
    assert status.numbers_assigned == 0
    # ... the process dies here, before the certificate; the command is run again.
    result = _offboard(db, inst.slug, tmp_path)
    assert result.numbers_released == 3 and result.certificate["certificate"]["numbers_released"] == 3
    records = _operator_records(db, world, [str(i) for i in mine] + [str(inst.id)])
    assert len([r for r in records if r.action == "sip.did.released"]) == 3
    phases = [r.details["phase"] for r in records if r.action == "tenant.offboard"]
    assert phases.count("numbers_released") == 1 and phases[-1] == "completed"
