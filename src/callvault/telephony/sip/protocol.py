"""Control protocol between the core and a media worker: one JSON object per line over a Unix socket.

Commands (core -> worker) carry an ``id`` echoed by exactly one reply::

    {"id": 7, "cmd": "answer", "call": "w5600-4711-1"}
    {"id": 7, "ok": true}                      or   {"id": 7, "ok": false, "error": "..."}

Commands: ``ping``; ``originate`` (to_uri, from_uri, optional headers: name -> value added to the INVITE; the
reply carries the new ``call``); ``answer`` (call);
``play`` (call, path: WAV file, played once); ``stop_play`` (call); ``hold`` (call, optional path: music
played in a loop; prompts keep running unheard); ``unhold`` (call);
``record_start`` (call, recording: an id chosen by the core, path); ``record_stop`` (call, recording);
``hear`` (call, calls: the other calls of this worker whose audio the call hears from now on, through the
conference bridge; its recordings capture them too; ``[]`` for none);
``hangup`` (call, optional ``code`` for unanswered calls); ``shutdown``.

Events (worker -> core) have an ``event`` key and no ``id``; the worker sends them in the order its SIP
stack reports them::

    {"event": "call.offered", "call": "w5600-4711-1", "from_uri": "...", "to_uri": "...",
     "tenant": "bank-a" or null, "entry": "ivr:main" or null}   (from the SIP front's X-CallVault-* headers)
    {"event": "call.originated", "call": "w5600-4711-2", "from_uri": "...", "to_uri": "..."}
    {"event": "call.answered", "call": "w5600-4711-1"}
    {"event": "call.dtmf", "call": "w5600-4711-1", "digit": "5"}
    {"event": "play.finished", "call": "w5600-4711-1"}
    {"event": "call.hangup", "call": "w5600-4711-1", "cause": "normal", "sip_code": 200}
    {"event": "recording.ready", "call": "w5600-4711-1", "recording": "r1", "path": "/.../r1.wav"}

``recording.ready`` is sent once the recorder is destroyed (its WAV header written): on ``record_stop``, or
after ``call.hangup`` for recordings still running when the call ended.
"""

from __future__ import annotations

import json
from typing import Any

from callvault.telephony.events import HangupCause

Message = dict[str, Any]


def encode(message: Message) -> bytes:
    """One protocol line."""
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> Message:
    """Parse one protocol line; raises ``ValueError`` on anything but a JSON object."""
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError("protocol messages are JSON objects")
    return message


def hangup_cause(*, sip_code: int, answered: bool, inbound: bool, local: bool) -> HangupCause:
    """Map how a dialog ended to the port's hangup cause.

    ``local`` means the engine ended it (hangup command); ``sip_code`` is the last final status seen.
    """
    if answered:
        return HangupCause.NORMAL
    if inbound:
        return HangupCause.REJECTED if local else HangupCause.CANCELLED
    if local:
        return HangupCause.CANCELLED
    if sip_code in (486, 600):
        return HangupCause.BUSY
    if sip_code in (403, 603):
        return HangupCause.REJECTED
    if sip_code in (408, 480, 487):
        return HangupCause.NO_ANSWER
    return HangupCause.FAILED
