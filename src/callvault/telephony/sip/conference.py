"""Bridge, transfer and supervisor monitoring of the sip engine, on its media worker's conference bridge.

Every leg lives in the engine's one worker, so the worker's pjsua2 conference bridge can join any of them. The
core keeps bridges and monitors and decides who hears whom (``legs.heard_legs``, the sim engine's rules); the
worker is told, per leg whose sources changed, which other legs it hears (``hear``) and connects the ports,
into the leg and into its recordings. A conversation takes two of the worker's four call slots; relaying
bridged talk through rtpengine for scale is still to come (docs/adr/0002-media-stack.md, addendum).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING

from callvault.telephony.events import (
    BridgeId,
    CallBridged,
    CallId,
    CallTransferred,
    CallUnbridged,
    Direction,
    HangupCause,
    MonitorMode,
    MonitorStarted,
)
from callvault.telephony.port import InvalidCallState, PlaybackOutcome, TelephonyError
from callvault.telephony.sip.legs import SipLeg, heard_legs
from callvault.telephony.sip.protocol import Message
from callvault.telephony.stream import EventStream


class ConferenceOperations:
    """The port's bridge, transfer, listen, whisper and barge; mixed into ``SipEngine``."""

    sip_port: int
    _legs: dict[CallId, SipLeg]
    _stream: EventStream
    _closing: bool

    def _init_conference(self) -> None:
        self._bridges: dict[BridgeId, tuple[CallId, CallId]] = {}
        self._bridge_count = 0
        self._routing = asyncio.Lock()  # one routing pass at a time, so the worker gets them in order
        self._background: set[asyncio.Future[None]] = set()

    if TYPE_CHECKING:  # provided by SipEngine

        async def _command(self, cmd: str, leg: SipLeg, **fields: object) -> Message: ...
        def _answered(self, call_id: CallId) -> SipLeg: ...
        async def _unhold(self, leg: SipLeg) -> None: ...
        async def hangup(self, call_id: CallId, cause: HangupCause = HangupCause.NORMAL) -> None: ...
        async def originate(
            self,
            to_uri: str,
            from_uri: str,
            *,
            ring_timeout: float,
            tenant: str | None = None,
            trunk: str | None = None,
        ) -> CallId: ...

    async def bridge(self, a: CallId, b: CallId) -> BridgeId:
        """Join two answered legs of this worker; a leg already in a bridge leaves that one first.

        A prompt still playing to either leg is stopped (its ``play`` returns ``interrupted``) and a held leg
        is taken off hold, so queue music never covers the conversation."""
        leg_a, leg_b = self._answered(a), self._answered(b)
        if a == b:
            raise InvalidCallState("cannot bridge a leg to itself")
        for leg in (leg_a, leg_b):
            await self._stop_prompt(leg)
            await self._unhold(leg)
        bridge_id = self._join(leg_a, leg_b)
        await self._route()
        return bridge_id

    async def transfer(
        self,
        call_id: CallId,
        *,
        to_uri: str | None = None,
        consultation: CallId | None = None,
        ring_timeout: float = 30.0,
    ) -> CallId:
        """Blind (``to_uri``) or consultative (``consultation``) transfer, as the port describes."""
        leg = self._answered(call_id)
        if (to_uri is None) == (consultation is None):
            raise ValueError("give exactly one of to_uri and consultation")
        replaced = self._partner(leg)
        if consultation is not None:
            target = self._answered(consultation)
            consulted_by = self._partner(target)
            gone = [g for g in (replaced, consulted_by) if g is not None and g is not leg and g is not target]
            for other in gone:
                await self._transferred_away(other)
            await self._unhold(leg)
            self._join(leg, target)
            self._stream.publish(
                CallTransferred(
                    call_id=leg.call_id,
                    at=time.monotonic(),
                    target_call_id=target.call_id,
                    replaced_call_id=gone[0].call_id if gone else None,
                )
            )
            await self._route()
            return target.call_id
        assert to_uri is not None
        if replaced is not None:
            await self._transferred_away(replaced)
        from_uri = leg.from_uri if leg.direction is Direction.INBOUND else leg.to_uri
        new_id = await self.originate(to_uri, from_uri, ring_timeout=ring_timeout, tenant=leg.tenant)
        for _ in range(100):  # the worker sends call.originated before its reply; let the pump publish it
            if new_id in self._legs:
                break
            await asyncio.sleep(0)
        new_leg = self._legs[new_id]
        new_leg.transfer_for = leg.call_id
        new_leg.replaced_by_transfer = replaced.call_id if replaced is not None else None
        if new_leg.answered:  # answered before we got here (only on a very fast far end)
            self._spawn(self._complete_blind_transfer(new_leg))
        return new_id

    async def listen(self, supervisor: CallId, agent: CallId) -> None:
        """The supervisor hears both sides of the agent's conversation; nobody hears the supervisor."""
        await self._monitor(supervisor, agent, MonitorMode.LISTEN)

    async def whisper(self, supervisor: CallId, agent: CallId) -> None:
        """The supervisor hears both sides and speaks to the agent only."""
        await self._monitor(supervisor, agent, MonitorMode.WHISPER)

    async def barge(self, supervisor: CallId, agent: CallId) -> None:
        """The supervisor joins the conversation as a third party."""
        await self._monitor(supervisor, agent, MonitorMode.BARGE)

    async def _monitor(self, supervisor: CallId, agent: CallId, mode: MonitorMode) -> None:
        sup, ag = self._answered(supervisor), self._answered(agent)
        if sup is ag:
            raise InvalidCallState("a leg cannot monitor itself")
        sup.monitor = (ag.call_id, mode)
        self._stream.publish(MonitorStarted(call_id=supervisor, at=time.monotonic(), agent_call_id=agent, mode=mode))
        await self._route()

    def _join(self, a: SipLeg, b: SipLeg) -> BridgeId:
        self._leave_bridge(a)
        self._leave_bridge(b)
        self._bridge_count += 1
        bridge_id = BridgeId(f"bridge-{self.sip_port}-{self._bridge_count}")
        self._bridges[bridge_id] = (a.call_id, b.call_id)
        a.bridge = b.bridge = bridge_id
        a.partner, b.partner = b.call_id, a.call_id
        now = time.monotonic()
        for leg, other in ((a, b), (b, a)):
            self._stream.publish(
                CallBridged(call_id=leg.call_id, at=now, bridge_id=bridge_id, other_call_id=other.call_id)
            )
        return bridge_id

    def _leave_bridge(self, leg: SipLeg) -> None:
        """End the leg's bridge: ``call.unbridged`` for both members, in join order (as the sim engine)."""
        if leg.bridge is None:
            return
        bridge_id = leg.bridge
        members = self._bridges.pop(bridge_id)
        for member in members:
            self._legs[member].bridge = self._legs[member].partner = None
        now = time.monotonic()
        for member in members:
            self._stream.publish(CallUnbridged(call_id=member, at=now, bridge_id=bridge_id))

    def _partner(self, leg: SipLeg) -> SipLeg | None:
        return None if leg.partner is None else self._legs[leg.partner]

    async def _transferred_away(self, leg: SipLeg) -> None:
        """The leg leaves through a transfer: out of its bridge now, hung up with cause ``transferred``."""
        self._leave_bridge(leg)
        await self.hangup(leg.call_id, HangupCause.TRANSFERRED)

    async def _complete_blind_transfer(self, target: SipLeg) -> None:
        assert target.transfer_for is not None
        origin = self._legs[target.transfer_for]
        if origin.ended:  # the customer gave up while the new leg rang
            await self.hangup(target.call_id)
            return
        await self._unhold(origin)
        self._join(origin, target)
        self._stream.publish(
            CallTransferred(
                call_id=origin.call_id,
                at=time.monotonic(),
                target_call_id=target.call_id,
                replaced_call_id=target.replaced_by_transfer,
            )
        )
        await self._route()

    async def _stop_prompt(self, leg: SipLeg) -> None:
        if leg.playback is None or leg.playback.done():
            return
        leg.playback.set_result(PlaybackOutcome.INTERRUPTED)
        await self._command("stop_play", leg)

    async def _route(self) -> None:
        """Tell the worker, for every leg whose audio sources changed, which legs it hears now."""
        async with self._routing:
            for leg in list(self._legs.values()):
                if leg.ended or not leg.answered:
                    continue
                heard = heard_legs(leg, self._legs)
                if heard == leg.hears_sent:
                    continue
                leg.hears_sent = heard
                with contextlib.suppress(TelephonyError):  # the leg may be ending on the worker side
                    await self._command("hear", leg, calls=sorted(heard))

    def _spawn(self, work: Coroutine[object, object, None]) -> None:
        """Run follow-up work of a worker event (which arrives outside any port call) in the background."""
        task = asyncio.ensure_future(self._quietly(work))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    async def _quietly(work: Coroutine[object, object, None]) -> None:
        with contextlib.suppress(TelephonyError):  # the worker went away meanwhile: its legs end by themselves
            await work

    def _left_conference(self, leg: SipLeg) -> None:
        """The leg ended: its bridge ends, and monitoring by or of it stops."""
        self._leave_bridge(leg)
        monitored = leg.monitor is not None
        leg.monitor = None
        for other in self._legs.values():
            if other.monitor is not None and other.monitor[0] == leg.call_id:
                other.monitor, monitored = None, True
        if monitored and not self._closing:
            self._spawn(self._route())
