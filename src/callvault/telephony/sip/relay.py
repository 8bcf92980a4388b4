"""Operations of the port that belong to the bridged-talk relay, not to the media workers.

ADR 0002: customer-agent talk is relayed (and recorded) by rtpengine under Kamailio, because bridging
inside pjsua2 workers costs two call slots and about 3.6 times the CPU. Until that relay is driven from the
core, the sip engine reports these operations as not carried.
"""

from __future__ import annotations

from callvault.telephony.events import BridgeId, CallId
from callvault.telephony.port import TelephonyError


class NotSupported(TelephonyError):
    """The sip engine does not carry this operation yet."""


class RelayedOperations:
    """Bridge, transfer and supervisor monitoring: not carried by the sip engine yet."""

    async def bridge(self, a: CallId, b: CallId) -> BridgeId:
        """Not carried yet (bridged talk belongs in rtpengine, see the ADR)."""
        raise NotSupported("bridge")

    async def transfer(
        self,
        call_id: CallId,
        *,
        to_uri: str | None = None,
        consultation: CallId | None = None,
        ring_timeout: float = 30.0,
    ) -> CallId:
        """Not carried yet."""
        raise NotSupported("transfer")

    async def listen(self, supervisor: CallId, agent: CallId) -> None:
        """Not carried yet."""
        raise NotSupported("listen")

    async def whisper(self, supervisor: CallId, agent: CallId) -> None:
        """Not carried yet."""
        raise NotSupported("whisper")

    async def barge(self, supervisor: CallId, agent: CallId) -> None:
        """Not carried yet."""
        raise NotSupported("barge")
