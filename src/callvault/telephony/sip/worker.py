"""pjsua2 media worker: one SIP stack per process, driven over a Unix socket (see ``protocol``).

Run as ``python -m callvault.telephony.sip.worker --sip-port 5600 --rtp-port 22000 --control /run/w.sock``.
The worker binds SIP and RTP to ``--address`` only (default 127.0.0.1), answers nothing by itself, and stops
on SIGTERM, on the ``shutdown`` command or after ``--max-seconds``.

pjsua2 rules followed here (the process aborts or leaks otherwise):

* Only the main thread calls into pjsua2 (``threadCnt = 0``, the loop polls with ``libHandleEvents``).
  Callbacks that pjsua2 may run on its media thread (DTMF, end of prompt) only append to thread-safe queues.
* Python objects of calls and players stay referenced until their C side is finished, and are dropped only in
  the main loop, never inside a callback; at exit every reference is dropped and collected before
  ``libDestroy``.
* A ``CallInfo`` is kept in a local variable while its ``media`` vector is read (a temporary's vector is
  garbage).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import signal
import socket
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import pjsua2 as pj

from callvault.telephony.sip.protocol import Message, decode, encode, hangup_cause

# pjsua2 objects are untyped SWIG proxies; ``Any`` marks them.
PjObject = Any


class WorkerCall(pj.Call):  # type: ignore[misc]
    """One call leg with its audio port and current prompt player."""

    def __init__(
        self, worker: MediaWorker, account: PjObject, call_id: int, *, name: str, inbound: bool
    ) -> None:
        super().__init__(account, call_id)
        self.worker = worker
        self.name = name
        self.inbound = inbound
        self.audio: PjObject = None
        self.player: Prompt | None = None
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
        self.worker.emit(
            {
                "event": "call.offered",
                "call": call.name,
                "from_uri": bare_uri(info.remoteUri),
                "to_uri": bare_uri(info.localUri),
            }
        )


def bare_uri(header_value: str) -> str:
    """``"Name" <sip:x@y>;tag=1`` -> ``sip:x@y``: the address alone, as the port reports it."""
    if "<" in header_value and ">" in header_value:
        return header_value.split("<", 1)[1].split(">", 1)[0]
    return header_value.split(";", 1)[0].strip()


class MediaWorker:
    """The SIP stack, its calls, and the control connection of one worker process."""

    def __init__(
        self, *, address: str, sip_port: int, rtp_port: int, control: Path, max_calls: int, poll_ms: int
    ):
        self.address, self.sip_port, self.rtp_port = address, sip_port, rtp_port
        self.control_path, self.max_calls, self.poll_ms = control, max_calls, poll_ms
        self.calls: dict[str, WorkerCall] = {}
        self.ended: deque[WorkerCall] = deque()
        self.finished_prompts: deque[Prompt] = deque()
        self.outbox: deque[bytes] = deque()
        self.running = True
        self._counter = 0
        self._inbuf = b""
        self._client: socket.socket | None = None
        self.endpoint: PjObject = None
        self.account: PjObject = None
        self._listener: socket.socket | None = None

    def next_name(self) -> str:
        self._counter += 1
        return f"w{self.sip_port}-{self._counter}"

    def emit(self, message: Message) -> None:
        """Queue an event for the core (deque.append is safe from pjsua2's media thread)."""
        self.outbox.append(encode(message))

    def start(self) -> None:
        """Start the SIP stack bound to ``address`` and listen on the control socket."""
        ep = self.endpoint = pj.Endpoint()
        ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.maxCalls = self.max_calls
        cfg.medConfig.clockRate = cfg.medConfig.sndClockRate = 8000
        cfg.medConfig.ecTailLen = 0
        cfg.medConfig.noVad = True
        cfg.logConfig.level = cfg.logConfig.consoleLevel = 1
        ep.libInit(cfg)
        transport = pj.TransportConfig()
        transport.port = self.sip_port
        transport.boundAddress = self.address
        ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
        ep.transportCreate(pj.PJSIP_TRANSPORT_TCP, transport)
        ep.libStart()
        ep.audDevManager().setNullDev()
        for codec in ep.codecEnum2():
            # G.711 only: what the contact center carries end to end (PCMU first, then PCMA).
            wanted = {"PCMU/8000/1": 255, "PCMA/8000/1": 254}
            ep.codecSetPriority(codec.codecId, wanted.get(codec.codecId, 0))
        acfg = pj.AccountConfig()
        acfg.idUri = f"sip:media@{self.address}:{self.sip_port}"
        acfg.mediaConfig.transportConfig.boundAddress = self.address
        acfg.mediaConfig.transportConfig.port = self.rtp_port
        acfg.mediaConfig.transportConfig.portRange = 4 * self.max_calls
        self.account = WorkerAccount(self)
        self.account.create(acfg)
        with contextlib.suppress(FileNotFoundError):
            self.control_path.unlink()
        listener = self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.control_path))
        os.chmod(self.control_path, 0o600)  # only the core (same user) may drive calls
        listener.listen(1)
        listener.setblocking(False)

    def serve(self, max_seconds: float) -> None:
        """Poll SIP/RTP and the control socket until stopped or ``max_seconds`` have passed."""
        deadline = time.monotonic() + max_seconds
        while self.running and time.monotonic() < deadline:
            self.endpoint.libHandleEvents(self.poll_ms)
            self._control_io()
            self._reap()
        self._control_io()

    def handle(self, command: Message) -> Message:
        """Execute one command; returns the reply without ``id``."""
        cmd = command.get("cmd")
        if cmd == "ping":
            return {"ok": True, "calls": len(self.calls)}
        if cmd == "shutdown":
            self.running = False
            return {"ok": True}
        call = self.calls.get(str(command.get("call")))
        if call is None or call.gone:
            return {"ok": False, "error": "unknown or ended call"}
        op = pj.CallOpParam()
        if cmd == "answer":
            op.statusCode = 200
            call.answer(op)
        elif cmd == "play":
            if call.audio is None:
                return {"ok": False, "error": "no active audio"}
            self._stop_prompt(call)
            player = Prompt(self, call.name)
            player.createPlayer(str(command["path"]), pj.PJMEDIA_FILE_NO_LOOP)
            player.startTransmit(call.audio)
            call.player = player
        elif cmd == "stop_play":
            self._stop_prompt(call)
        elif cmd == "hangup":
            call.local_hangup = True
            op.statusCode = int(command.get("code", 603))
            call.hangup(op)
        else:
            return {"ok": False, "error": f"unknown command {cmd!r}"}
        return {"ok": True}

    def stop(self) -> None:
        """Hang up everything and destroy the stack in the order pjsua2 needs."""
        if self.endpoint is None:
            return
        self.endpoint.hangupAllCalls()
        for _ in range(50):
            self.endpoint.libHandleEvents(20)
            self._reap()
            if all(call.gone for call in self.calls.values()):
                break
        self._control_io()
        for call in self.calls.values():
            call.player = None
            call.audio = None
        self.calls.clear()
        self.ended.clear()
        self.finished_prompts.clear()
        self.account.shutdown()
        self.account = None
        gc.collect()
        self.endpoint.libDestroy()
        self.endpoint = None
        for sock in (self._client, self._listener):
            if sock is not None:
                sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.control_path.unlink()

    def _stop_prompt(self, call: WorkerCall) -> None:
        if call.player is not None and call.audio is not None:
            with contextlib.suppress(pj.Error):
                call.player.stopTransmit(call.audio)
        call.player = None

    def _reap(self) -> None:
        while self.finished_prompts:
            prompt = self.finished_prompts.popleft()
            call = self.calls.get(prompt.call_name)
            if call is not None and call.player is prompt:
                self._stop_prompt(call)
                self.emit({"event": "play.finished", "call": call.name})
            del prompt  # drop the player here, in the main loop
        while self.ended:
            call = self.ended.popleft()
            call.player = None
            call.audio = None
            self.calls.pop(call.name, None)
            del call

    def _control_io(self) -> None:
        assert self._listener is not None
        if self._client is None:
            try:
                self._client, _ = self._listener.accept()
                self._client.setblocking(False)
            except BlockingIOError:
                return
        client = self._client
        try:
            while chunk := client.recv(65536):
                self._inbuf += chunk
            self._drop_client()  # orderly close by the core
            return
        except BlockingIOError:
            pass
        except ConnectionError:
            self._drop_client()
            return
        while b"\n" in self._inbuf:
            line, self._inbuf = self._inbuf.split(b"\n", 1)
            self.outbox.append(encode(self._reply(line)))
        while self.outbox:
            data = self.outbox[0]
            try:
                sent = client.send(data)
            except BlockingIOError:
                return
            except ConnectionError:
                self._drop_client()
                return
            if sent < len(data):
                self.outbox[0] = data[sent:]
                return
            self.outbox.popleft()

    def _reply(self, line: bytes) -> Message:
        try:
            command = decode(line)
        except ValueError as error:
            return {"ok": False, "error": f"bad command: {error}"}
        try:
            reply = self.handle(command)
        except pj.Error as error:
            reply = {"ok": False, "error": error.info()}
        except (KeyError, ValueError) as error:
            reply = {"ok": False, "error": f"bad command: {error}"}
        return {**reply, "id": command.get("id")}

    def _drop_client(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None
        self._inbuf = b""


def main(argv: list[str] | None = None) -> int:
    """Run one worker until SIGTERM, ``shutdown`` or ``--max-seconds``."""
    parser = argparse.ArgumentParser(description="CallVault pjsua2 media worker")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--sip-port", type=int, required=True)
    parser.add_argument("--rtp-port", type=int, required=True)
    parser.add_argument("--control", type=Path, required=True)
    parser.add_argument("--max-calls", type=int, default=4)
    parser.add_argument("--poll-ms", type=int, default=20)
    parser.add_argument("--max-seconds", type=float, default=24 * 3600)
    args = parser.parse_args(argv)
    worker = MediaWorker(
        address=args.address,
        sip_port=args.sip_port,
        rtp_port=args.rtp_port,
        control=args.control,
        max_calls=args.max_calls,
        poll_ms=args.poll_ms,
    )

    def stop(*_: object) -> None:
        worker.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.start()
    try:
        worker.serve(args.max_seconds)
    finally:
        worker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
