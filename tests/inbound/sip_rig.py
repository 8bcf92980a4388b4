"""Real SIP around the switchboard for end-to-end tests: a Kamailio front, SIPp callers and agent phones registered
with their digest, and a switchboard on a pjsua2 sip engine served from its own thread and event loop (as the
services' calls thread does), so a served app's desk channel can reach it.

Tests using this skip without Kamailio, SIPp or espeak-ng (`NEEDS_SIP`); the pjsua2 wheel is checked by the
test itself (`pytest.importorskip`)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from callvault.acd.owner import AcdOwners
from callvault.core.db import Database
from callvault.inbound.switchboard import Switchboard, front_dialer
from callvault.interactions.recorder import CallRecorder
from callvault.sipedge.front import KamailioFront, kamailio_binary
from callvault.sipedge.kamailio_cfg import FrontConfig
from tests.inbound.floors import Floor
from tests.sipedge import sipp_scenarios
from tests.sipedge.test_front_sip import free_udp_port

NEEDS_SIP = [
    pytest.mark.skipif(kamailio_binary() is None, reason="kamailio is not installed (Debian package kamailio)"),
    pytest.mark.skipif(shutil.which("sipp") is None, reason="SIPp is not installed (Debian package sip-tester)"),
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed"),
]
LIMIT_S = 60  # bounds against hangs, not performance assertions


def sipp(
    workdir: Path,
    name: str,
    scenario: str,
    *,
    target: str | None,
    port: int | None = None,
    extra: tuple[str, ...] = (),
) -> subprocess.Popen[bytes]:
    """One SIPp run of `scenario` (a client towards `target`, or a server on `port` when `target` is None)."""
    path = workdir / f"{name}.xml"
    path.write_text(scenario)
    command = [
        "sipp",
        *((target,) if target else ()),
        *("-sf", str(path), "-m", "1", "-nostdin", "-i", "127.0.0.1", "-p", str(port or free_udp_port())),
        *("-mi", "127.0.0.1", "-mp", str(free_udp_port()), "-timeout", f"{LIMIT_S}s", "-timeout_error"),
        *("-trace_err", "-error_file", str(workdir / f"{name}-errors.log")),
        *extra,
    ]
    return subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finished(process: subprocess.Popen[bytes], workdir: Path, name: str) -> int:
    """The SIPp run's exit code (0: the scenario completed), its errors printed when it failed."""
    _, stderr = process.communicate(timeout=LIMIT_S + 10)
    errors = workdir / f"{name}-errors.log"
    if process.returncode != 0 and errors.exists():
        print(name, errors.read_text()[-2000:], stderr.decode(errors="replace")[-500:])
    return process.returncode


@contextlib.contextmanager
def reaped() -> Iterator[list[subprocess.Popen[bytes]]]:
    """SIPp runs appended to the yielded list are killed if still running when the block is left (a failure midway
    would leave them waiting for their timeout)."""
    runs: list[subprocess.Popen[bytes]] = []
    try:
        yield runs
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.wait()


@contextlib.contextmanager
def kamailio_front(db: Database, workdir: Path, worker_port: int) -> Iterator[str]:
    """A Kamailio front for the media worker at `worker_port`; yields its address, stops it cleanly."""
    front = KamailioFront(
        FrontConfig("127.0.0.1", free_udp_port(), (f"127.0.0.1:{worker_port}",), workdir / "front"), db
    )
    front.start()
    try:
        yield f"127.0.0.1:{front.config.port}"
    finally:
        assert front.stop() == 0


def agent_phone(workdir: Path, front_at: str, f: Floor, username: str, *, ring_ms: int = 0) -> subprocess.Popen[bytes]:
    """The agent's SIP phone: registered at the front with its digest, then waiting to ring `ring_ms`, answer and
    take the BYE."""
    phone_port = free_udp_port()
    register = sipp_scenarios.register(f"{username}@{f.slug}", f"{username}@127.0.0.1:{phone_port}", final=200)
    registering = sipp(
        workdir,
        f"register-{username}",
        register,
        target=front_at,
        extra=("-au", username, "-ap", f.passwords[username]),
    )
    assert finished(registering, workdir, f"register-{username}") == 0
    return sipp(workdir, f"phone-{username}", sipp_scenarios.agent_phone(ring_ms=ring_ms), target=None, port=phone_port)


class SwitchboardThread:
    """A switchboard on a sip engine (media worker at `worker_port`, agents' phones rung through `front_at`) on its
    own event loop in a background thread: the owners' desk channels run its call control there."""

    def __init__(self, db: Database, owners: AcdOwners, workdir: Path, *, worker_port: int, front_at: str) -> None:
        self.db, self.owners, self.workdir = db, owners, workdir
        self.worker_port, self.front_at = worker_port, front_at
        self.board: Switchboard | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="switchboard", daemon=True)

    def __enter__(self) -> Switchboard:
        self._thread.start()
        assert self._ready.wait(LIMIT_S), "the sip engine did not start"
        if self._failure is not None:
            raise self._failure
        assert self.board is not None
        return self.board

    def __exit__(self, *_: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(LIMIT_S)
        assert not self._thread.is_alive(), "the switchboard did not stop"

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to the test thread
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        from callvault.telephony.sip.engine import SipEngine

        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        engine = SipEngine(
            workdir=self.workdir, sip_port=self.worker_port, rtp_port=free_udp_port(), front=self.front_at
        )
        await engine.start()
        self.board = Switchboard(engine, self.db, self.owners, CallRecorder(self.db), dial_station=front_dialer(engine))
        serving = asyncio.ensure_future(self.board.run(engine.events()))
        await asyncio.sleep(0)  # `run` attaches the board to the owners' call control first
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await engine.close()
            await serving
