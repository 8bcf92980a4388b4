"""Handing the IVR's outcome to the ACD: the caller enters the queue the flow chose, with the flow's priority and
the queue node's skill requirements (applied on top of the queue's own).

Transfers and voicemail are not the ACD's: the inbound call handler acts on those outcomes itself.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from callvault.acd import service as acd
from callvault.acd.router import Offer, Router
from callvault.ivr.interpreter import Outcome, OutcomeKind


def queue_ids(session: Session) -> dict[str, uuid.UUID]:
    """The institution's queues by name (flows name queues; the router knows them by id)."""
    return {q.name: q.id for q in acd.list_queues(session)}


def hand_to_acd(
    router: Router, outcome: Outcome, *, queues: dict[str, uuid.UUID], call_id: uuid.UUID, now: float
) -> list[Offer]:
    """Queue a caller the IVR routed to a queue or to a queued callback; returns the offers made at once.

    A queue deleted since the flow was published leaves the caller unrouted (KeyError): the caller of this
    function plays its apology and ends the call rather than guessing a queue.
    """
    if outcome.kind not in (OutcomeKind.QUEUED, OutcomeKind.CALLBACK) or outcome.queue is None:
        return []
    offers = router.enqueue(
        call_id, queue_id=queues[outcome.queue], priority=outcome.priority, skills=outcome.skills, now=now
    )
    if outcome.kind is OutcomeKind.CALLBACK and not offers:
        router.request_callback(call_id, number=outcome.number or "", now=now)
    return offers
