"""pjsua2 objects of the media worker: call legs, prompt players, the account, and their callbacks.

Callbacks only record facts on the worker (queues, flags, events); anything that creates or destroys pjsua2
objects happens in the worker's main loop (see ``worker``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pjsua2 as pj

from callvault.telephony.sip.protocol import hangup_cause

if TYPE_CHECKING:
    from callvault.telephony.sip.worker import MediaWorker

# pjsua2 objects are untyped SWIG proxies; ``Any`` marks them.
PjObject = Any


class WorkerCall(pj.Call):  # type: ignore[misc]
    """One call leg with its audio port and current prompt player."""

    def __init__(self, worker: MediaWorker, account: PjObject, call_id: int, *, name: str, inbound: bool) -> None:
        super().__init__(account, call_id)
        self.worker = worker
        self.name = name
        self.inbound = inbound
        self.audio: PjObject = None
        self.player: Prompt | None = None
        self.music: PjObject = None  # looping music on hold; while set, prompts are not heard
        self.recorders: dict[str, tuple[PjObject, str]] = {}  # recording id -> (recorder, path)
        # Other calls of this worker whose audio this call hears (set by the core: bridge, monitoring), and
        # those actually connected into its port and recorders through the conference bridge.
        self.hears: set[str] = set()
        self.linked: set[str] = set()
        self.port_id: int | None = None
        self.answered = False
        self.local_hangup = False
        self.gone = False

    def onCallState(self, prm: PjObject) -> None:
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and not self.answered:
            self.answered = True
            self.worker.emit({"event": "call.answered", "call": self.name})
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.gone:
            self.gone = True
            # pjsua removes the call's conference port with its media: forget the links through it now, so
            # nothing disconnects a port id that a later call may reuse.
            self.worker.forget_links(self.name)
            cause = hangup_cause(
                sip_code=info.lastStatusCode,
                answered=self.answered,
                inbound=self.inbound,
                local=self.local_hangup,
            )
            self.worker.emit(
                {
                    "event": "call.hangup",
                    "call": self.name,
                    "cause": str(cause),
                    "sip_code": info.lastStatusCode,
                }
            )
            self.worker.ended.append(self)

    def onCallMediaState(self, prm: PjObject) -> None:
        info = self.getInfo()
        for media in info.media:
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.audio = self.getAudioMedia(media.index)
                port_id = self.audio.getPortId()
                if port_id != self.port_id:  # new port (first media, or a re-INVITE): links are rebuilt
                    self.port_id = port_id
                    self.worker.forget_links(self.name)
                    self.worker.relink_pending = True

    def onDtmfDigit(self, prm: PjObject) -> None:
        self.worker.emit({"event": "call.dtmf", "call": self.name, "digit": prm.digit})


class Prompt(pj.AudioMediaPlayer):  # type: ignore[misc]
    """A WAV prompt playing to one call; reports its end through the worker's queue."""

    def __init__(self, worker: MediaWorker, call_name: str) -> None:
        super().__init__()
        self.worker = worker
        self.call_name = call_name

    def onEof2(self) -> None:
        self.worker.finished_prompts.append(self)


class WorkerAccount(pj.Account):  # type: ignore[misc]
    """The worker's only account: offers every inbound INVITE to the core (180 Ringing meanwhile)."""

    def __init__(self, worker: MediaWorker) -> None:
        super().__init__()
        self.worker = worker

    def onIncomingCall(self, prm: PjObject) -> None:
        call = WorkerCall(self.worker, self, prm.callId, name=self.worker.next_name(), inbound=True)
        self.worker.calls[call.name] = call
        ringing = pj.CallOpParam()
        ringing.statusCode = 180
        call.answer(ringing)
        info = call.getInfo()
        routing = edge_headers(str(prm.rdata.wholeMsg))
        self.worker.emit(
            {
                "event": "call.offered",
                "call": call.name,
                "from_uri": bare_uri(info.remoteUri),
                "to_uri": bare_uri(info.localUri),
                "tenant": routing.get(TENANT_HEADER),
                "entry": routing.get(ENTRY_HEADER),
            }
        )


TENANT_HEADER, ENTRY_HEADER = "x-callvault-tenant", "x-callvault-entry"


def edge_headers(message: str) -> dict[str, str]:
    """The routing headers the SIP front adds to an INVITE (institution and entry point), by lowercase name.

    Only the front's word counts: it strips these headers from whatever it receives before adding its own."""
    found: dict[str, str] = {}
    for line in message.split("\r\n\r\n", 1)[0].split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        key = name.strip().lower()
        if sep and key in (TENANT_HEADER, ENTRY_HEADER) and key not in found:
            found[key] = value.strip()
    return found


def wav_complete(path: Path) -> bool:
    """The RIFF header of ``path`` has been written (its size field matches the file)."""
    try:
        with path.open("rb") as wav:
            header = wav.read(8)
        return len(header) == 8 and int.from_bytes(header[4:8], "little") == path.stat().st_size - 8
    except FileNotFoundError:
        return False


def bare_uri(header_value: str) -> str:
    """``"Name" <sip:x@y>;tag=1`` -> ``sip:x@y``: the address alone, as the port reports it."""
    if "<" in header_value and ">" in header_value:
        return header_value.split("<", 1)[1].split(">", 1)[0]
    return header_value.split(";", 1)[0].strip()
