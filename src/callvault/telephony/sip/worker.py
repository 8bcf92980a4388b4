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

import pjsua2 as pj

from callvault.telephony.sip.protocol import Message, decode, encode
from callvault.telephony.sip.worker_calls import PjObject, Prompt, WorkerAccount, WorkerCall, wav_complete


class MediaWorker:
    """The SIP stack, its calls, and the control connection of one worker process."""

    def __init__(self, *, address: str, sip_port: int, rtp_port: int, control: Path, max_calls: int, poll_ms: int):
        self.address, self.sip_port, self.rtp_port = address, sip_port, rtp_port
        self.control_path, self.max_calls, self.poll_ms = control, max_calls, poll_ms
        self.calls: dict[str, WorkerCall] = {}
        self.ended: deque[WorkerCall] = deque()
        self.finished_prompts: deque[Prompt] = deque()
        self.outbox: deque[bytes] = deque()
        self.closing_recordings: list[tuple[str, str, str, float]] = []
        self.running = True
        self.relink_pending = False
        self._counter = 0
        self._inbuf = b""
        self._client: socket.socket | None = None
        self.endpoint: PjObject = None
        self.account: PjObject = None
        self._listener: socket.socket | None = None

    def next_name(self) -> str:
        self._counter += 1
        # The pid keeps ids unique across worker restarts on the same port.
        return f"w{self.sip_port}-{os.getpid()}-{self._counter}"

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
        if cmd == "originate":
            headers = {str(k): str(v) for k, v in dict(command.get("headers") or {}).items()}
            return self._originate(str(command["to_uri"]), str(command["from_uri"]), headers)
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
            # A held caller hears only the music; the prompt still runs to its end into the null device
            # (a player with no listener is not clocked and would never reach its end).
            player.startTransmit(call.audio if call.music is None else self._discard())
            for recorder, _ in call.recorders.values():
                player.startTransmit(recorder)  # the recording holds what the caller hears too
            call.player = player
        elif cmd == "stop_play":
            self._stop_prompt(call)
        elif cmd == "hold":
            self._hold(call, command.get("path"))
        elif cmd == "unhold":
            self._unhold(call)
        elif cmd == "hear":
            call.hears = {str(name) for name in command["calls"]} - {call.name}
            self._relink(call)
        elif cmd == "record_start":
            if call.audio is None:
                return {"ok": False, "error": "no active audio"}
            recorder = pj.AudioMediaRecorder()
            recorder.createRecorder(str(command["path"]))
            call.audio.startTransmit(recorder)
            if call.player is not None:
                call.player.startTransmit(recorder)
            if call.music is not None and call.music.getPortId() >= 0:
                call.music.startTransmit(recorder)
            for name in call.linked:  # a bridged leg's recording holds both sides of the conversation
                self.calls[name].audio.startTransmit(recorder)
            call.recorders[str(command["recording"])] = (recorder, str(command["path"]))
        elif cmd == "record_stop":
            self._finish_recording(call, str(command["recording"]))
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
        for call in self.calls.values():
            for recording in list(call.recorders):
                self._finish_recording(call, recording)
            call.player = None
            call.music = None
            call.audio = None
        for _ in range(50):  # let the bridge close the recorders' files (see _finish_recording)
            if not self.closing_recordings:
                break
            self.endpoint.libHandleEvents(20)
            self._announce_finished_recordings()
        self._announce_finished_recordings(force=True)
        self._control_io()  # last events (hangups, recordings) out before the socket closes
        self.calls.clear()
        self.ended.clear()
        self.finished_prompts.clear()
        self.account.shutdown()
        self.account = None
        gc.collect()
        # Calls are already hung up above; no need to wait for the network on the way out.
        self.endpoint.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
        self.endpoint = None
        for sock in (self._client, self._listener):
            if sock is not None:
                sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.control_path.unlink()

    def _originate(self, to_uri: str, from_uri: str, headers: dict[str, str]) -> Message:
        call = WorkerCall(self, self.account, pj.PJSUA_INVALID_ID, name=self.next_name(), inbound=False)
        self.calls[call.name] = call
        self.emit({"event": "call.originated", "call": call.name, "to_uri": to_uri, "from_uri": from_uri})
        op = pj.CallOpParam(True)
        identity = pj.SipHeader()  # the calling identity to present (the SIP From is the worker's account)
        identity.hName, identity.hValue = "P-Asserted-Identity", f"<{from_uri}>"
        op.txOption.headers.append(identity)
        for name, value in headers.items():  # e.g. the institution, for the SIP front (X-CallVault-Tenant)
            extra = pj.SipHeader()
            extra.hName, extra.hValue = name, value
            op.txOption.headers.append(extra)
        try:
            call.makeCall(to_uri, op)
        except pj.Error as error:
            if not call.gone:
                call.gone = True
                self.emit({"event": "call.hangup", "call": call.name, "cause": "failed", "sip_code": None})
                self.ended.append(call)
            return {"ok": True, "call": call.name, "warning": error.info()}
        return {"ok": True, "call": call.name}

    def _finish_recording(self, call: WorkerCall, recording: str) -> None:
        entry = call.recorders.pop(recording, None)
        if entry is None:
            return
        path = entry[1]
        # Destroying the recorder makes the conference bridge remove and close its port, which writes the
        # WAV header; pjmedia does that on its clock thread a frame or so later, so the event waits for it.
        del entry
        self.closing_recordings.append((call.name, recording, path, time.monotonic() + 2.0))

    def _announce_finished_recordings(self, *, force: bool = False) -> None:
        still_closing = []
        for call_name, recording, path, deadline in self.closing_recordings:
            if force or wav_complete(Path(path)) or time.monotonic() > deadline:
                self.emit({"event": "recording.ready", "call": call_name, "recording": recording, "path": path})
            else:
                still_closing.append((call_name, recording, path, deadline))
        self.closing_recordings = still_closing

    def _hold(self, call: WorkerCall, music_path: object) -> None:
        if call.audio is None or call.music is not None:
            return
        if call.player is not None:
            call.player.startTransmit(self._discard())
            call.player.stopTransmit(call.audio)
        music = pj.AudioMediaPlayer()
        if music_path is not None:
            music.createPlayer(str(music_path), 0)  # 0: loop
            music.startTransmit(call.audio)
            for recorder, _ in call.recorders.values():
                music.startTransmit(recorder)
        call.music = music

    def _unhold(self, call: WorkerCall) -> None:
        if call.music is None:
            return
        with contextlib.suppress(pj.Error):  # a player never created has no port to disconnect
            call.music.stopTransmit(call.audio)
        call.music = None
        if call.player is not None and call.audio is not None:
            call.player.startTransmit(call.audio)
            with contextlib.suppress(pj.Error):
                call.player.stopTransmit(self._discard())

    def forget_links(self, name: str) -> None:
        """Drop the bookkeeping of every link into or out of ``name``'s port (pjsua already removed them).

        Pure Python, so safe inside pjsua2 callbacks."""
        for call in self.calls.values():
            call.linked.discard(name)
        if (own := self.calls.get(name)) is not None:
            own.linked.clear()

    def _relink(self, call: WorkerCall) -> None:
        """Connect into ``call`` (and its recorders) exactly the live calls it should hear."""
        if call.gone or call.audio is None:
            return
        wanted = {
            name
            for name in call.hears
            if (source := self.calls.get(name)) is not None and not source.gone and source.audio is not None
        }
        sinks = [call.audio, *(recorder for recorder, _ in call.recorders.values())]
        for name in call.linked - wanted:
            for sink in sinks:
                with contextlib.suppress(pj.Error):
                    self.calls[name].audio.stopTransmit(sink)
        for name in wanted - call.linked:
            for sink in sinks:
                self.calls[name].audio.startTransmit(sink)
        call.linked = wanted

    def _relink_all(self) -> None:
        self.relink_pending = False
        for call in list(self.calls.values()):
            self._relink(call)

    def _discard(self) -> PjObject:
        """The null audio device's port: a sink that keeps unheard players clocked."""
        return self.endpoint.audDevManager().getPlaybackDevMedia()

    def _stop_prompt(self, call: WorkerCall) -> None:
        if call.player is not None and call.audio is not None:
            with contextlib.suppress(pj.Error):
                call.player.stopTransmit(call.audio)
        call.player = None

    def _reap(self) -> None:
        self._announce_finished_recordings()
        if self.relink_pending:
            self._relink_all()
        while self.finished_prompts:
            prompt = self.finished_prompts.popleft()
            call = self.calls.get(prompt.call_name)
            if call is not None and call.player is prompt:
                self._stop_prompt(call)
                self.emit({"event": "play.finished", "call": call.name})
            del prompt  # drop the player here, in the main loop
        while self.ended:
            call = self.ended.popleft()
            for recording in list(call.recorders):
                self._finish_recording(call, recording)
            call.player = None
            call.music = None
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
