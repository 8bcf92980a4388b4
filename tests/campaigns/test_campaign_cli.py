"""`callvault campaign ...` as a real process against the test database."""

from __future__ import annotations

import json

from callvault.campaigns import service
from callvault.campaigns.schemas import CampaignCreate
from callvault.core.db import Database
from callvault.tenancy import service as tenancy
from tests.campaigns.helpers import actor, make_list, world_institution
from tests.fixtures import World
from tests.test_cli import cv


def test_list_approve_start_pause(world: World, db: Database) -> None:
    slug = world_institution(world)
    list_id, _ = make_list(db, slug, 1)
    planner = actor(db, slug)
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        created = service.create_campaign(
            session,
            actor=planner,
            data=CampaignCreate(name="催收一期", purpose="collections", list_id=list_id, caller_id="95588"),
        )
    cid = str(created.id)
    listed = json.loads(cv("campaign", "list", "--tenant", slug, "--json").stdout)
    assert [(c["id"], c["status"]) for c in listed] == [(cid, "draft")]
    refused = cv("campaign", "approve", cid, "--tenant", slug, "--by", "planner")
    assert refused.returncode == 1 and "four eyes" in refused.stderr + refused.stdout
    assert "Traceback" not in refused.stderr
    for command, status in (("approve", "approved"), ("start", "running"), ("pause", "paused")):
        r = cv("campaign", command, cid, "--tenant", slug, "--by", "supervisor-li")
        assert r.returncode == 0, r.stderr
        assert status in r.stdout
    table = cv("campaign", "list", "--tenant", slug)
    assert "催收一期" in table.stdout and "paused" in table.stdout
