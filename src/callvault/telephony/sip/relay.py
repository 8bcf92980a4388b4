"""What the sip engine reports when it cannot carry an operation on this machine.

Bridge, transfer and supervisor monitoring used to be reported here as not carried, pending an rtpengine
relay (ADR 0002). They now run on the media worker's conference bridge, both legs living in the same worker
(ADR 0002, addendum of 2026-12-01); relaying bridged talk through rtpengine for scale is still to come.
"""

from __future__ import annotations

from callvault.telephony.port import TelephonyError


class NotSupported(TelephonyError):
    """The sip engine cannot carry this operation here (e.g. text-to-speech without espeak-ng)."""
