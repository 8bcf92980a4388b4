"""`callvault ivr check` run as a real process: the institution's queues from the database, problems per node."""

from __future__ import annotations

from pathlib import Path

from callvault.acd import service as acd
from callvault.acd.schemas import QueueCreate
from callvault.security.principal import system_principal
from callvault.tenancy import service as tenancy
from tests.fixtures import World
from tests.ivr.flows import card_service_yaml
from tests.test_cli import cv


def test_check_a_flow_file_against_an_institution(world: World, tmp_path: Path) -> None:
    bank = world.institution(roles=())
    flow = tmp_path / "card.yaml"
    flow.write_text(card_service_yaml(), encoding="utf-8")
    r = cv("ivr", "check", str(flow), "--institution", bank.slug)
    assert r.returncode == 1
    assert "nodes.to_agent.queue" in r.stdout and "unknown queue 'cards'" in r.stdout

    with world.db.scoped() as session:
        inst = tenancy.bind(session, slug=bank.slug)
        actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind=inst.kind)
        acd.create_queue(session, actor=actor, data=QueueCreate(name="cards"))
    r = cv("ivr", "check", str(flow), "--institution", bank.slug)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "can be published" in r.stdout

    broken = tmp_path / "broken.json"
    broken.write_text('{"start": ', encoding="utf-8")
    r = cv("ivr", "check", str(broken))
    assert r.returncode == 1 and "not valid JSON" in r.stdout and "Traceback" not in r.stderr
    assert cv("ivr", "check", str(flow), "--institution", "no-such-bank").returncode == 1
