"""What a waiting caller is told: the place in line and the expected wait, from the routing owner."""

from __future__ import annotations

import uuid

from callvault.acd.owner import AcdOwners
from callvault.core.db import Database
from callvault.inbound.switchboard import waiting_announcement
from tests.fixtures import World
from tests.inbound.floors import floor


def test_announcement_text() -> None:
    assert waiting_announcement(1, 20) == "您是下一位。预计等待不到一分钟。"
    assert waiting_announcement(3, 61) == "您前面还有2位客户。预计等待2分钟。"
    assert waiting_announcement(5, 600) == "您前面还有4位客户。预计等待10分钟。"


def test_place_in_line_follows_the_queue_and_ends_when_the_caller_leaves(db: Database, world: World) -> None:
    owners = AcdOwners(db, tick_seconds=0)
    f = floor(db, world, owners, phones={"zoe": True}, entry="queue")  # zoe is logged out: nobody takes calls
    first, second = uuid.uuid4(), uuid.uuid4()
    f.owner.enqueue(first, queue_id=f.queue_id)
    f.owner.enqueue(second, queue_id=f.queue_id)
    one, two = f.owner.place_in_line(first), f.owner.place_in_line(second)
    assert one is not None and two is not None
    assert (one[0], two[0]) == (1, 2) and two[1] >= one[1] > 0
    f.owner.abandon(first)
    assert f.owner.place_in_line(first) is None
    assert f.owner.place_in_line(second) == (1, one[1])
