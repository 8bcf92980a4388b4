"""Shared pieces of the call-record tests: a system actor of an institution and a real spoken WAV file."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from callvault.core.db import Database
from callvault.interactions import service
from callvault.interactions.schemas import InteractionOpen, PartyKind
from callvault.interactions.service import LegEvent, LegEventKind
from callvault.security.principal import Principal, system_principal
from callvault.tenancy import service as tenancy

CUSTOMER = "+8613812348000"
DID = "+861088880000"


def actor_of(db: Database, slug: str) -> Principal:
    with db.scoped() as session:
        inst = tenancy.bind(session, slug=slug)
        return system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind, name="test")


def spoken_wav(path: Path, text: str = "Thank you for calling. This call is recorded.") -> Path:
    """A real WAV file spoken by espeak-ng (what a media worker leaves behind, in miniature)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    return path


def ended_call(db: Database, slug: str) -> tuple[uuid.UUID, str]:
    """An inbound interaction with one customer leg, answered and hung up; returns its id and the leg's call id."""
    from datetime import timedelta

    from callvault.core import clock

    actor = actor_of(db, slug)
    t0 = clock.now()
    call_id = f"leg-{uuid.uuid4().hex[:8]}"
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        interaction_id = service.open_interaction(
            session, actor=actor, data=InteractionOpen(direction="inbound", offered_at=t0)
        )
        service.record_leg_event(
            session,
            actor=actor,
            interaction_id=interaction_id,
            event=LegEvent(
                LegEventKind.STARTED,
                call_id,
                t0,
                party=PartyKind.CUSTOMER,
                direction="inbound",
                remote=f"sip:{CUSTOMER}@carrier.example",
                local=f"sip:{DID}@callvault",
                trunk="carrier-a",
            ),
        )
        service.record_leg_event(
            session,
            actor=actor,
            interaction_id=interaction_id,
            event=LegEvent(LegEventKind.ANSWERED, call_id, t0 + timedelta(seconds=1)),
        )
        service.close_leg(
            session,
            actor=actor,
            interaction_id=interaction_id,
            call_id=call_id,
            at=t0 + timedelta(seconds=31),
            cause="normal",
        )
    return interaction_id, call_id
