"""Scripted far ends: how a simulated caller or callee behaves.

A ``FarEnd`` is engine-neutral on purpose: the sim engine plays it directly, and a sip-engine test harness can
turn the same script into a SIPp scenario.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class FarEnd:
    """Behaviour of the party at the other end of a leg.

    Outbound legs (callee): after ``answer_after`` seconds of ringing the far end answers with probability
    ``answer_probability``, or responds with ``reject_code`` (486 busy, 603 decline, 404 ...) if set. A callee
    that does not answer rings until ``gives_up_after`` (then 480) or until the engine's ring timeout.

    Inbound legs (caller): the caller abandons (CANCEL) ``gives_up_after`` seconds after the offer if not
    answered by then.

    After answer, both kinds press ``digits`` (seconds after answer, key) and hang up after ``hangup_after``
    seconds (never, if ``None``). ``voice_hz`` is the tone the far end "speaks" into recordings.
    """

    answer_after: float = 1.0
    answer_probability: float = 1.0
    reject_code: int | None = None
    gives_up_after: float | None = None
    digits: tuple[tuple[float, str], ...] = ()
    hangup_after: float | None = None
    voice_hz: float | None = 350.0

    @staticmethod
    def presses(keys: str, *, start: float, gap: float = 0.5) -> tuple[tuple[float, str], ...]:
        """Key presses ``keys`` one every ``gap`` seconds, starting ``start`` seconds after answer."""
        return tuple((start + i * gap, key) for i, key in enumerate(keys))


DTMF_KEYS = frozenset("0123456789*#ABCD")


class Directory:
    """Maps dialled URIs to scripted far ends; unknown URIs fail like an unroutable number (404)."""

    def __init__(self, far_ends: Mapping[str, FarEnd] | None = None) -> None:
        self._far_ends: dict[str, FarEnd] = dict(far_ends or {})

    def add(self, uri: str, far_end: FarEnd) -> str:
        """Register ``far_end`` at ``uri`` and return the URI."""
        self._far_ends[uri] = far_end
        return uri

    def lookup(self, uri: str) -> FarEnd | None:
        """The far end reachable at ``uri``, if any."""
        return self._far_ends.get(uri)
