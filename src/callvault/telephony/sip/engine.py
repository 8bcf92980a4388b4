"""The sip engine: the ``Engine`` port over a pjsua2 media worker process.

This version drives one worker (4 calls): inbound answer, originate, prompts (WAV or text-to-speech), RFC 4733
digit collection, hold with music, recording and hangup, and — because every leg lives in that one worker —
bridge, blind and consultative transfer, and supervisor listen / whisper / barge through the worker's
conference bridge (``conference``: the core decides who hears whom, the worker connects the ports). A
bridged conversation takes two of the worker's four call slots. Relaying bridged talk through rtpengine for
scale is still to come (docs/adr/0002-media-stack.md, addendum). A worker that dies ends its legs with cause
``worker_crashed`` and is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import shutil
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from callvault.telephony.events import (
    CallAnswered,
    CallEvent,
    CallHangup,
    CallHeld,
    CallId,
    CallOffered,
    CallOriginated,
    CallUnheld,
    Direction,
    DtmfReceived,
    HangupCause,
    RecordingId,
    RecordingReady,
)
from callvault.telephony.port import (
    AudioFile,
    CallGone,
    CollectionEnd,
    DigitCollection,
    Engine,
    InvalidCallState,
    PlaybackOutcome,
    Prompt,
    TelephonyError,
    UnknownCall,
    take_buffered_digits,
)
from callvault.telephony.sip.conference import ConferenceOperations
from callvault.telephony.sip.control import WorkerConnectionLost, WorkerControl
from callvault.telephony.sip.legs import SipLeg, resolve, wav_seconds
from callvault.telephony.sip.protocol import Message
from callvault.telephony.sip.relay import NotSupported
from callvault.telephony.stream import EventStream


class SipEngine(ConferenceOperations):
    """``Engine`` over one supervised pjsua2 media worker on ``address:sip_port``."""

    def __init__(
        self, *, workdir: Path, sip_port: int, rtp_port: int, address: str = "127.0.0.1", front: str | None = None
    ) -> None:
        self.workdir = workdir
        self.front = front  # "host:port" of the SIP front (Kamailio) that reaches agents' phones
        self.address, self.sip_port, self.rtp_port = address, sip_port, rtp_port
        self._stream = EventStream()
        self._legs: dict[CallId, SipLeg] = {}
        self._worker: asyncio.subprocess.Process | None = None
        self._control: WorkerControl | None = None
        self._pump: asyncio.Task[None] | None = None
        self._recording_owner: dict[RecordingId, CallId] = {}
        self._ring_timers: set[asyncio.Future[None]] = set()
        self._init_conference()
        self._closing = False
        self.restarts = 0
        self._recording_count = 0

    @property
    def worker_pid(self) -> int | None:
        """Process id of the current media worker (for supervision and tests)."""
        return self._worker.pid if self._worker is not None else None

    async def start(self, *, startup_timeout: float = 30.0) -> None:
        """Start the worker process, connect to its control socket, and supervise it."""
        self._control = await self._spawn_worker(startup_timeout)
        self._pump = asyncio.ensure_future(self._supervise())

    async def _spawn_worker(self, startup_timeout: float) -> WorkerControl:
        control_path = self.workdir / f"worker-{self.sip_port}.sock"
        command = [
            *(sys.executable, "-m", "callvault.telephony.sip.worker", "--address", self.address),
            *("--sip-port", str(self.sip_port), "--rtp-port", str(self.rtp_port)),
            *("--control", str(control_path)),
        ]
        worker = self._worker = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        async with asyncio.timeout(startup_timeout):
            while True:
                if worker.returncode is not None:
                    raise TelephonyError(f"media worker exited with {worker.returncode}")
                # A socket file left by a crashed worker refuses connections until the new one binds it.
                with contextlib.suppress(FileNotFoundError, ConnectionRefusedError):
                    control = await WorkerControl.connect(control_path)
                    break
                await asyncio.sleep(0.05)
        await control.command("ping")
        return control

    async def _supervise(self) -> None:
        """Relay worker events; when a worker dies, end its legs (``worker_crashed``) and start a new one."""
        while self._control is not None:
            control = self._control
            with contextlib.suppress(WorkerConnectionLost):
                while True:
                    self._on_worker_event(await control.next_event())
            cause = HangupCause.NORMAL if self._closing else HangupCause.WORKER_CRASHED
            for leg in self._legs.values():
                if not leg.ended:
                    self._ended(leg, cause, None)
            await control.close()
            if self._closing:
                return
            await self._reap_worker()
            self.restarts += 1
            try:
                self._control = await self._spawn_worker(30.0)
            except (TelephonyError, TimeoutError):
                self._control = None  # the node's supervisor (systemd) takes over from here

    async def _reap_worker(self) -> None:
        if self._worker is None:
            return
        try:
            async with asyncio.timeout(15):
                await self._worker.wait()
        except TimeoutError:
            self._worker.kill()
            await self._worker.wait()

    def events(self) -> AsyncIterator[CallEvent]:
        """Subscribe to the engine's events."""
        return self._stream.subscribe()

    async def answer(self, call_id: CallId) -> None:
        """Answer an offered leg (200 OK) and return once the caller's ACK has connected it."""
        leg = self._leg(call_id)
        if leg.answered:
            raise InvalidCallState(f"{call_id} is already answered")
        leg.connected = asyncio.get_running_loop().create_future()
        await self._command("answer", leg)
        # 32 s is SIP's transaction timeout (64*T1): by then the ACK has come or the call has failed.
        async with asyncio.timeout(32):
            if not await leg.connected:
                raise CallGone(call_id)

    async def play(self, call_id: CallId, prompt: Prompt, *, interrupt_on_dtmf: bool = False) -> PlaybackOutcome:
        """Play a WAV file or spoken text once."""
        leg = self._answered(call_id)
        if leg.playback is not None:
            raise InvalidCallState(f"{call_id} is already playing a prompt")
        if interrupt_on_dtmf and leg.digits:
            return PlaybackOutcome.INTERRUPTED
        path = await self._prompt_path(prompt)
        leg.playback = asyncio.get_running_loop().create_future()
        leg.interrupt_on_dtmf = interrupt_on_dtmf
        try:
            await self._command("play", leg, path=str(path))
            outcome = await leg.playback
        finally:
            leg.playback = None
        if outcome is PlaybackOutcome.INTERRUPTED and not leg.ended:
            with contextlib.suppress(TelephonyError):
                await self._command("stop_play", leg)
        return outcome

    async def collect_digits(
        self, call_id: CallId, *, max_digits: int, digit_timeout: float, terminator: str | None = "#"
    ) -> DigitCollection:
        """Collect RFC 4733 digits with the port's type-ahead and timeout rules."""
        leg = self._answered(call_id)
        if leg.digit_waiter is not None:
            raise InvalidCallState(f"{call_id} is already collecting digits")
        collected = ""
        while True:
            collected, done = take_buffered_digits(leg.digits, collected, max_digits=max_digits, terminator=terminator)
            if done is not None:
                return done
            if leg.ended:
                return DigitCollection(collected, CollectionEnd.HANGUP)
            leg.digit_waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(digit_timeout):
                    got_digit = await leg.digit_waiter
            except TimeoutError:
                return DigitCollection(collected, CollectionEnd.TIMEOUT)
            finally:
                leg.digit_waiter = None
            if not got_digit:
                return DigitCollection(collected, CollectionEnd.HANGUP)

    async def originate(
        self, to_uri: str, from_uri: str, *, ring_timeout: float, tenant: str | None = None, trunk: str | None = None
    ) -> CallId:
        """INVITE ``to_uri`` presenting ``from_uri`` (P-Asserted-Identity); cancel after ``ring_timeout``.

        ``agent:<username>`` rings that agent's registered phone through the SIP front; ``tenant`` (the
        institution's slug) names whose agent it is, and the front looks the phone up under that name only.
        ``trunk`` (with ``tenant``) sends the call out through that institution's outbound trunk, ``to_uri`` then
        being ``tel:<number>`` or the number itself."""
        if self._control is None:
            raise TelephonyError("engine not started")
        headers = {} if tenant is None else {"X-CallVault-Tenant": tenant}
        if to_uri.startswith("agent:"):
            if self.front is None or tenant is None:
                raise TelephonyError("agent: targets need the engine's SIP front and the institution")
            to_uri = f"sip:{to_uri.removeprefix('agent:')}@{self.front}"
        if trunk is not None:
            if self.front is None or tenant is None:
                raise TelephonyError("trunk calls need the engine's SIP front and the institution")
            headers["X-CallVault-Trunk"] = trunk
            to_uri = f"sip:{to_uri.removeprefix('tel:')}@{self.front}"
        reply = await self._control.command("originate", to_uri=to_uri, from_uri=from_uri, headers=headers)
        call_id = CallId(str(reply["call"]))
        timer = asyncio.ensure_future(self._ring_timeout(call_id, ring_timeout))
        self._ring_timers.add(timer)
        timer.add_done_callback(self._ring_timers.discard)
        return call_id

    async def _ring_timeout(self, call_id: CallId, seconds: float) -> None:
        await asyncio.sleep(seconds)
        leg = self._legs.get(call_id)
        if leg is not None and not leg.answered and not leg.ended and leg.local_cause is None:
            leg.local_cause = HangupCause.NO_ANSWER
            with contextlib.suppress(TelephonyError):
                await self._command("hangup", leg, code=487)

    async def hold(self, call_id: CallId, *, music: Prompt | None = None) -> None:
        """Hold the leg: prompts go unheard and ``music`` (if any) loops until ``unhold``."""
        leg = self._answered(call_id)
        if leg.held:
            return
        path = None if music is None else await self._prompt_path(music)
        await self._command("hold", leg, path=None if path is None else str(path))
        leg.held = True
        self._stream.publish(CallHeld(call_id=call_id, at=time.monotonic()))
        await self._route()

    async def unhold(self, call_id: CallId) -> None:
        """Stop the music; the leg hears its prompts and its bridge again."""
        await self._unhold(self._answered(call_id))
        await self._route()

    async def _unhold(self, leg: SipLeg) -> None:
        if not leg.held:
            return
        await self._command("unhold", leg)
        leg.held = False
        self._stream.publish(CallUnheld(call_id=leg.call_id, at=time.monotonic()))

    async def start_recording(self, call_id: CallId) -> RecordingId:
        """Record what the leg says and hears (prompts included) to a WAV under ``workdir/recordings``."""
        leg = self._answered(call_id)
        self._recording_count += 1
        recording_id = RecordingId(f"{call_id}-rec{self._recording_count}")
        path = self.workdir / "recordings" / f"{recording_id}.wav"
        path.parent.mkdir(exist_ok=True)
        await self._command("record_start", leg, recording=recording_id, path=str(path))
        self._recording_owner[recording_id] = call_id
        return recording_id

    async def stop_recording(self, recording_id: RecordingId) -> None:
        """Stop a recording; ``recording.ready`` follows when the worker has finished the file."""
        call_id = self._recording_owner.get(recording_id)
        if call_id is None:
            raise UnknownCall(f"unknown recording {recording_id}")
        leg = self._known(call_id)
        if not leg.ended:
            with contextlib.suppress(TelephonyError):  # the call may be ending: hangup finishes it then
                await self._command("record_stop", leg, recording=recording_id)

    async def hangup(self, call_id: CallId, cause: HangupCause = HangupCause.NORMAL) -> None:
        """End a leg (486 for a busy rejection, 603 otherwise); idempotent."""
        leg = self._known(call_id)
        if leg.ended or leg.local_cause is not None:
            return
        if not leg.answered and cause is HangupCause.NORMAL:
            cause = HangupCause.REJECTED if leg.direction is Direction.INBOUND else HangupCause.CANCELLED
        leg.local_cause = cause
        code = 486 if cause is HangupCause.BUSY else 603
        if leg.direction is Direction.OUTBOUND and not leg.answered:
            code = 487  # a CANCEL: the INVITE ends with 487 Request Terminated
        with contextlib.suppress(TelephonyError):  # already ending on the worker side
            await self._command("hangup", leg, code=code)

    async def close(self) -> None:
        """Stop the worker (it hangs up its calls) and end the event streams."""
        self._closing = True
        for timer in self._ring_timers:
            timer.cancel()
        for task in list(self._background):
            task.cancel()
        if self._control is not None:
            with contextlib.suppress(TelephonyError, ConnectionError):
                await self._control.command("shutdown")
        await self._reap_worker()
        if self._pump is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._pump, 5)
        self._stream.close()

    # -- worker events ---------------------------------------------------------------------------------

    def _on_worker_event(self, event: Message) -> None:
        call_id = CallId(str(event["call"]))
        now = time.monotonic()
        kind = event["event"]
        if kind == "call.offered":
            self._legs[call_id] = SipLeg(
                call_id,
                Direction.INBOUND,
                from_uri=event["from_uri"],
                to_uri=event["to_uri"],
                tenant=event.get("tenant"),
            )
            self._stream.publish(
                CallOffered(
                    call_id=call_id,
                    at=now,
                    from_uri=event["from_uri"],
                    to_uri=event["to_uri"],
                    tenant=event.get("tenant"),
                    entry=event.get("entry"),
                )
            )
            return
        if kind == "call.originated":
            self._legs[call_id] = SipLeg(
                call_id, Direction.OUTBOUND, from_uri=event["from_uri"], to_uri=event["to_uri"]
            )
            self._stream.publish(
                CallOriginated(call_id=call_id, at=now, from_uri=event["from_uri"], to_uri=event["to_uri"])
            )
            return
        if kind == "recording.ready":  # may follow the leg's hangup
            path = Path(event["path"])
            self._stream.publish(
                RecordingReady(
                    call_id=call_id,
                    at=now,
                    recording_id=RecordingId(str(event["recording"])),
                    path=path,
                    duration=wav_seconds(path),
                )
            )
            return
        leg = self._legs.get(call_id)
        if leg is None or leg.ended:
            return
        if kind == "call.answered":
            leg.answered = True
            self._stream.publish(CallAnswered(call_id=call_id, at=now, direction=leg.direction))
            resolve(leg.connected, True)
            if leg.transfer_for is not None:
                self._spawn(self._complete_blind_transfer(leg))
        elif kind == "call.dtmf":
            leg.digits.append(str(event["digit"]))
            self._stream.publish(DtmfReceived(call_id=call_id, at=now, digit=str(event["digit"])))
            resolve(leg.digit_waiter, True)
            if leg.playback is not None and leg.interrupt_on_dtmf and not leg.playback.done():
                leg.playback.set_result(PlaybackOutcome.INTERRUPTED)
        elif kind == "play.finished":
            if leg.playback is not None and not leg.playback.done():
                leg.playback.set_result(PlaybackOutcome.COMPLETED)
        elif kind == "call.hangup":
            cause = leg.local_cause or HangupCause(event["cause"])
            self._ended(leg, cause, event.get("sip_code"))

    def _ended(self, leg: SipLeg, cause: HangupCause, sip_code: int | None) -> None:
        leg.ended = True
        self._stream.publish(CallHangup(call_id=leg.call_id, at=time.monotonic(), cause=cause, sip_code=sip_code))
        resolve(leg.digit_waiter, False)
        resolve(leg.connected, False)
        if leg.playback is not None and not leg.playback.done():
            leg.playback.set_result(PlaybackOutcome.HANGUP)
        self._left_conference(leg)

    # -- helpers ---------------------------------------------------------------------------------------

    async def _command(self, cmd: str, leg: SipLeg, **fields: object) -> Message:
        if self._control is None:
            raise TelephonyError("engine not started")
        return await self._control.command(cmd, call=leg.call_id, **fields)

    async def _prompt_path(self, prompt: Prompt) -> Path:
        return prompt.path if isinstance(prompt, AudioFile) else await self._speak(prompt.text, prompt.language)

    async def _speak(self, text: str, language: str) -> Path:
        """Text-to-speech into a cached WAV (espeak-ng; the worker's bridge resamples to 8 kHz)."""
        key = hashlib.sha256(f"{language}\n{text}".encode()).hexdigest()[:16]
        path = self.workdir / f"tts-{key}.wav"
        if path.exists():
            return path
        espeak = shutil.which("espeak-ng")
        if espeak is None:
            raise NotSupported("text-to-speech needs espeak-ng")
        # The voice must follow the prompt's language: the default (English) voice reads each Chinese character
        # as "Chinese letter".
        proc = await asyncio.create_subprocess_exec(espeak, "-v", language, "-w", str(path), "--", text)
        if await proc.wait() != 0:
            raise TelephonyError("espeak-ng failed")
        return path

    def _known(self, call_id: CallId) -> SipLeg:
        leg = self._legs.get(call_id)
        if leg is None:
            raise UnknownCall(call_id)
        return leg

    def _leg(self, call_id: CallId) -> SipLeg:
        leg = self._known(call_id)
        if leg.ended:
            raise CallGone(call_id)
        return leg

    def _answered(self, call_id: CallId) -> SipLeg:
        leg = self._leg(call_id)
        if not leg.answered:
            raise InvalidCallState(f"{call_id} is not answered")
        return leg


def _conforms_to_port(engine: SipEngine) -> Engine:
    # Lets mypy check that SipEngine implements every method of the port with the same signature.
    return engine
