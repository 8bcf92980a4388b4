"""The pjsua2 media worker on real SIP/RTP: SIPp calls it on 127.0.0.1 and presses 1, 2, #."""

from __future__ import annotations

import asyncio
import math
import shutil
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("pjsua2", reason="the pjsua2-python wheel is not installed")
if shutil.which("sipp") is None:
    pytest.skip("SIPp (Debian package sip-tester) is not installed", allow_module_level=True)

from callvault.telephony.sip.control import WorkerControl
from callvault.telephony.sip.protocol import Message

HERE = Path(__file__).parent
# Ports kept away from bench/sip (5200-5300, 7000+, 20000-29999, 40000+).
SIP_PORT, RTP_PORT, SIPP_PORT, SIPP_MEDIA_PORT = 5600, 31000, 7600, 46000


def _prompt(path: Path) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(
            b"".join(
                round(0.3 * 32767 * math.sin(2 * math.pi * 440 * i / 8000)).to_bytes(2, "little", signed=True)
                for i in range(8000)
            )
        )
    return path


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    control = tmp_path / "worker.sock"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "callvault.telephony.sip.worker",
            "--sip-port",
            str(SIP_PORT),
            "--rtp-port",
            str(RTP_PORT),
            "--control",
            str(control),
            "--max-seconds",
            "90",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    yield proc, control
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for_socket(proc: subprocess.Popen[bytes], control: Path) -> None:
    for _ in range(600):  # bounded: 30 s
        if control.exists():
            return
        assert proc.poll() is None, f"worker exited early: {proc.stderr.read() if proc.stderr else b''!r}"
        time.sleep(0.05)
    pytest.fail("worker did not open its control socket")


async def _event(control: WorkerControl, name: str, seen: list[Message]) -> Message:
    while True:
        event = await control.next_event()
        seen.append(event)
        if event["event"] == name:
            return event


def test_sipp_call_answer_play_dtmf_hangup(worker: tuple[subprocess.Popen[bytes], Path], tmp_path: Path) -> None:
    proc, control_path = worker
    prompt = _prompt(tmp_path / "welcome.wav")

    async def scenario() -> tuple[list[Message], int]:
        control = await WorkerControl.connect(control_path)
        assert (await control.command("ping"))["calls"] == 0
        caller = await asyncio.create_subprocess_exec(
            "sipp",
            f"127.0.0.1:{SIP_PORT}",
            "-sf",
            str(HERE / "uac_dtmf.xml"),
            "-i",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
            "-p",
            str(SIPP_PORT),
            "-mp",
            str(SIPP_MEDIA_PORT),
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            "40s",
            "-timeout_error",
            cwd=tmp_path,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        seen: list[Message] = []
        offered = await _event(control, "call.offered", seen)
        call = offered["call"]
        assert "+4930111222" in offered["from_uri"]
        await control.command("answer", call=call)
        await _event(control, "call.answered", seen)
        await control.command("play", call=call, path=str(prompt))
        digits = ""
        while not digits.endswith("#"):
            digits += (await _event(control, "call.dtmf", seen))["digit"]
        await control.command("hangup", call=call)
        hangup = await _event(control, "call.hangup", seen)
        assert (hangup["cause"], hangup["call"]) == ("normal", call)
        sipp_rc = await caller.wait()
        await control.command("shutdown")
        await control.close()
        return seen, sipp_rc

    async def bounded() -> tuple[list[Message], int]:
        async with asyncio.timeout(60):  # a bound against hangs, not a performance assertion
            return await scenario()

    _wait_for_socket(proc, control_path)
    seen, sipp_rc = asyncio.run(bounded())
    digits = "".join(e["digit"] for e in seen if e["event"] == "call.dtmf")
    assert digits == "12#"
    assert "play.finished" in [e["event"] for e in seen]
    assert sipp_rc == 0
    assert proc.wait(15) == 0
