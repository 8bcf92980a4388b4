"""Contract harness over the sip engine: a real pjsua2 worker, SIPp far ends, all on 127.0.0.1."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import pytest

from callvault.telephony import Engine
from callvault.telephony.sim import FarEnd
from tests.telephony.contract.harness import write_tone
from tests.telephony.contract.sipp_far_end import callee_scenario, caller_scenario

T = TypeVar("T")

# Ports apart from bench/sip and tests/telephony/sip.
SIP_PORT, RTP_PORT, SIPP_PORT, SIPP_MEDIA_PORT, CALLEE_PORT = 5650, 31200, 7650, 46200, 7750


class SipHarness:
    """Runs scenarios against ``SipEngine``; far ends are SIPp processes generated from ``FarEnd`` scripts."""

    # What the sip engine carries so far; scenarios needing more are skipped for it.
    features = frozenset(
        {"inbound", "originate", "recording", "hold", "bridge", "monitor"}
        | ({"tts"} if shutil.which("espeak-ng") else set())
    )
    SCENARIO_LIMIT_S = 60.0  # a bound against hangs, not a performance assertion

    def __init__(self, workdir: Path) -> None:
        if shutil.which("sipp") is None:
            pytest.skip("SIPp (Debian package sip-tester) is not installed")
        pytest.importorskip("pjsua2", reason="the pjsua2-python wheel is not installed")
        from callvault.telephony.sip.engine import SipEngine

        self.workdir = workdir
        self.sip = SipEngine(workdir=workdir, sip_port=SIP_PORT, rtp_port=RTP_PORT)
        self.engine: Engine = self.sip
        self.prompt = write_tone(workdir / "prompt.wav", seconds=1.0, hz=440.0)
        self.music = write_tone(workdir / "music.wav", seconds=0.5, hz=600.0)
        self._callers: list[subprocess.Popen[bytes]] = []

    def callee(self, name: str, far_end: FarEnd) -> str:
        """Start a SIPp callee playing the far end's script; returns the URI to dial."""
        n = len(self._callers)
        port = CALLEE_PORT + n
        scenario = self.workdir / f"callee-{n}.xml"
        scenario.write_text(callee_scenario(far_end, self.workdir))
        self._spawn_sipp(scenario, port=port, media_port=SIPP_MEDIA_PORT + 10 * n, target=None)
        return f"sip:{name}@127.0.0.1:{port}"

    def unreachable_uri(self) -> str:
        """A URI where nothing listens, over TCP so the refusal is immediate (no DNS: stays on 127.0.0.1)."""
        return "sip:nobody@127.0.0.1:5998;transport=tcp"

    def call_in(self, far_end: FarEnd, *, from_uri: str, to_uri: str) -> None:
        """Start a SIPp caller playing the far end's script."""
        n = len(self._callers)
        scenario = self.workdir / f"caller-{n}.xml"
        pcaps = self.workdir / f"caller-{n}"
        pcaps.mkdir()
        scenario.write_text(caller_scenario(far_end, from_uri=from_uri, to_uri=to_uri, workdir=pcaps))
        self._spawn_sipp(scenario, port=SIPP_PORT + n, media_port=SIPP_MEDIA_PORT + 10 * n, target=SIP_PORT)

    def _spawn_sipp(self, scenario: Path, *, port: int, media_port: int, target: int | None) -> None:
        limit = f"{int(self.SCENARIO_LIMIT_S)}s"
        command = [
            *(("sipp", f"127.0.0.1:{target}", "-s", "ivr") if target else ("sipp",)),
            *("-sf", str(scenario), "-m", "1", "-nostdin", "-i", "127.0.0.1", "-mi", "127.0.0.1"),
            *("-p", str(port), "-mp", str(media_port), "-timeout", limit),
        ]
        self._callers.append(
            subprocess.Popen(command, cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )

    async def start(self) -> None:
        """Start the media worker."""
        await self.sip.start()

    async def pause(self, seconds: float) -> None:
        """Let ``seconds`` pass on the wall clock (calls keep talking meanwhile)."""
        await asyncio.sleep(seconds)

    async def run(self, scenario: Awaitable[T]) -> T:
        """Run the scenario in real time, bounded."""
        async with asyncio.timeout(self.SCENARIO_LIMIT_S):
            return await scenario

    async def stop(self) -> None:
        """Close the engine and stop every SIPp far end still running (by its own process handle)."""
        await self.sip.close()
        for far_end in self._callers:
            if far_end.poll() is None:
                far_end.kill()  # a scripted far end has nothing to save; SIGTERM waits for its calls
            far_end.wait()
