"""Worker CPU of a bridged, recorded conversation against an unbridged, recorded answered call.

One pjsua2 media worker (``SipEngine``) on 127.0.0.1, SIPp far ends that speak a tone (the contract suite's
far ends). Each run starts a fresh worker, samples its idle CPU, then fills it and samples again:

* baseline: 4 inbound calls answered and recorded, not bridged (4 of 4 call slots);
* ours: 2 conversations, each an inbound customer bridged to an outbound agent, the customer leg recorded
  (both sides in one file), 4 of 4 call slots.

CPU is ``utime + stime`` of the worker process from ``/proc`` over the window; per unit is
(loaded - idle) / units. Runs alternate baseline / ours; the table shows medians over ``--runs``.

    .venv/bin/python -m bench.sip.bridge_bench --runs 3 --window 10
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.sip.procstat import cpu_seconds
from tests.telephony.contract.sipp_far_end import callee_scenario, caller_scenario
from tests.telephony.eventlog import EventLog

from callvault.telephony import CallAnswered, CallId, CallOffered
from callvault.telephony.sim import FarEnd
from callvault.telephony.sip.engine import SipEngine

# Ports apart from the contract suite (5650...) and tests/telephony/sip.
SIP_PORT, RTP_PORT, SIPP_PORT, SIPP_MEDIA_PORT, CALLEE_PORT = 5850, 33200, 7850, 48200, 7950
QUEUE = "sip:cards@bank.example"


class Far:
    """SIPp far ends of one run, each bounded by ``-timeout`` and killed at the end."""

    def __init__(self, workdir: Path, limit_s: int) -> None:
        self.workdir, self.limit_s = workdir, limit_s
        self.procs: list[subprocess.Popen[bytes]] = []

    def _spawn(self, scenario: Path, *, port: int, media_port: int, target: int | None) -> None:
        command = [
            *(("sipp", f"127.0.0.1:{target}", "-s", "q") if target else ("sipp",)),
            *("-sf", str(scenario), "-m", "1", "-nostdin", "-i", "127.0.0.1", "-mi", "127.0.0.1"),
            *("-p", str(port), "-mp", str(media_port), "-timeout", f"{self.limit_s}s"),
        ]
        self.procs.append(
            subprocess.Popen(command, cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )

    def caller(self, hz: float) -> None:
        n = len(self.procs)
        scenario = self.workdir / f"caller-{n}.xml"
        scenario.write_text(
            caller_scenario(
                FarEnd(voice_hz=hz), from_uri="sip:+4930111222@pstn.example", to_uri=QUEUE, workdir=self.workdir
            )
        )
        self._spawn(scenario, port=SIPP_PORT + n, media_port=SIPP_MEDIA_PORT + 10 * n, target=SIP_PORT)

    def callee(self, hz: float) -> str:
        n = len(self.procs)
        scenario = self.workdir / f"callee-{n}.xml"
        scenario.write_text(callee_scenario(FarEnd(answer_after=0.2, voice_hz=hz), self.workdir))
        self._spawn(scenario, port=CALLEE_PORT + n, media_port=SIPP_MEDIA_PORT + 10 * n, target=None)
        return f"sip:agent@127.0.0.1:{CALLEE_PORT + n}"

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


async def _answered_caller(engine: SipEngine, far: Far, log: EventLog, hz: float) -> CallId:
    far.caller(hz)
    call = (await log.wait_for(CallOffered, nth=len(log.of(CallOffered)) + 1)).call_id
    await engine.answer(call)
    return call


async def one_run(bridged: bool, window_s: float, idle_s: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bridge-bench-") as tmp:
        workdir = Path(tmp)
        engine = SipEngine(workdir=workdir, sip_port=SIP_PORT, rtp_port=RTP_PORT)
        far = Far(workdir, int(idle_s + window_s + 60))
        await engine.start()
        log = EventLog(engine)
        try:
            pid = engine.worker_pid
            assert pid is not None
            before = cpu_seconds([pid])
            await asyncio.sleep(idle_s)
            idle = (cpu_seconds([pid]) - before) / idle_s
            units = 2 if bridged else 4
            for i in range(units):
                customer = await _answered_caller(engine, far, log, 400.0 + 100 * i)
                if bridged:
                    agent = await engine.originate(far.callee(900.0 + 100 * i), QUEUE, ring_timeout=10)
                    await log.wait_for(CallAnswered, agent)
                    await engine.bridge(customer, agent)
                await engine.start_recording(customer)
            await asyncio.sleep(1.0)
            before, t0 = cpu_seconds([pid]), time.monotonic()
            await asyncio.sleep(window_s)
            loaded = (cpu_seconds([pid]) - before) / (time.monotonic() - t0)
            assert engine.restarts == 0
            return {"idle": 100 * idle, "loaded": 100 * loaded, "per_unit": 100 * (loaded - idle) / units}
        finally:
            await engine.close()
            await log.close()
            far.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--idle", type=float, default=3.0)
    args = parser.parse_args()
    if shutil.which("sipp") is None:
        sys.exit("SIPp (Debian package sip-tester) is needed")
    results: dict[str, list[dict[str, float]]] = {"baseline": [], "ours": []}
    for _ in range(args.runs):
        for name, bridged in (("baseline", False), ("ours", True)):
            results[name].append(asyncio.run(one_run(bridged, args.window, args.idle)))
    rows = {
        name: {key: statistics.median(run[key] for run in runs) for key in ("idle", "loaded", "per_unit")}
        for name, runs in results.items()
    }
    print(f"worker CPU, % of one core; median of {args.runs} runs, {args.window:.0f} s window each")
    print("| setup | unit | units per worker | idle | loaded | per unit | per-unit runs |")
    print("|---|---|---|---|---|---|---|")
    labels = {
        "baseline": ("answered call, recorded, not bridged", 4),
        "ours": ("conversation: 2 legs bridged, recorded", 2),
    }
    for name, row in rows.items():
        label, units = labels[name]
        each = " / ".join(f"{run['per_unit']:.2f}" for run in results[name])
        print(
            f"| {name} | {label} | {units} | {row['idle']:.2f} | {row['loaded']:.2f} | {row['per_unit']:.2f} | {each} |"
        )
    print(f"ratio ours/baseline per unit: {rows['ours']['per_unit'] / rows['baseline']['per_unit']:.2f}")


if __name__ == "__main__":
    main()
