"""Media-stack benchmark on 127.0.0.1: calls per process, CPU and memory per call, audio quality.

Every process started here is bounded (``--max-seconds`` / ``-timeout`` / ``timeout``) and is stopped in a
``finally`` block, so a run always ends by itself. Results go to stdout as one JSON document.

    python bench/sip/run_bench.py pjsua2  --calls 40 --hold 20 --source speech.wav
    python bench/sip/run_bench.py baresip --calls 40 --hold 20 --source speech.wav
    python bench/sip/run_bench.py refusal --calls 8 --max-calls 16

``source`` is a 16-bit 8 kHz mono WAV that SIPp streams (as PCMU) to every answered call; the stacks record
what they receive, and ``quality.py`` compares it with the source.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from procstat import cpu_seconds, memory_mb
from quality import compare

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
CALLS_PER_PJSUA2_PROCESS = 4


def sipp(
    target: str,
    scenario: Path,
    *,
    calls: int,
    rate: float,
    hold_s: float,
    port: int,
    media_port: int,
    workdir: Path,
) -> subprocess.Popen[str]:
    limit = int(hold_s + calls / rate + 30)
    command = [
        "sipp",
        target,
        "-sf",
        str(scenario),
        "-s",
        "ua",
        "-i",
        "127.0.0.1",
        "-mi",
        "127.0.0.1",
        "-p",
        str(port),
        "-mp",
        str(media_port),
        "-m",
        str(calls),
        "-l",
        str(calls),
        "-r",
        str(rate),
        "-d",
        str(int(hold_s * 1000)),
        "-nostdin",
        "-timeout",
        f"{limit}s",
        "-max_socket",
        "4096",
    ]
    return subprocess.Popen(command, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def sipp_result(proc: subprocess.Popen[str], limit_s: float = 300) -> tuple[int, int, list[str]]:
    try:
        out, _ = proc.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:  # SIPp's own -timeout should have fired; never hang the bench
        proc.kill()
        out, _ = proc.communicate()
    ok = re.search(r"Successful call\s+\|\s+\d+\s+\|\s+(\d+)", out)
    failed = re.search(r"Failed call\s+\|\s+\d+\s+\|\s+(\d+)", out)
    codes = re.findall(r"received 'SIP/2.0 (\d{3})", out)
    return int(ok.group(1)) if ok else 0, int(failed.group(1)) if failed else 0, codes


def scenario_for(source_ul: Path, workdir: Path) -> Path:
    scenario = workdir / "uac_stream.xml"
    scenario.write_text((HERE / "uac_stream.xml").read_text().replace("@STREAM@", str(source_ul)))
    return scenario


def to_ulaw(source: Path, workdir: Path) -> Path:
    raw = workdir / "source.ul"
    subprocess.run(["sox", str(source), "-t", "ul", str(raw)], check=True)
    return raw


def wait_for_files(paths: list[Path], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not all(p.exists() for p in paths):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not ready: {[str(p) for p in paths if not p.exists()]}")
        time.sleep(0.1)


def stop(procs: list[subprocess.Popen[Any]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure(pids: list[int], window_s: float, callers: list[int] | None = None) -> dict[str, float]:
    """CPU (% of one core) of ``pids`` over the window, their memory at its end, and the callers' CPU."""
    callers = callers or []
    before, callers_before, t0 = cpu_seconds(pids), cpu_seconds(callers), time.monotonic()
    time.sleep(window_s)
    elapsed = time.monotonic() - t0
    used, callers_used = cpu_seconds(pids) - before, cpu_seconds(callers) - callers_before
    rss, pss = memory_mb(pids)
    return {
        "cpu_pct_of_core": round(100 * used / elapsed, 2),
        "rss_mb": round(rss, 1),
        "pss_mb": round(pss, 1),
        "sipp_cpu_pct_of_core": round(100 * callers_used / elapsed, 2),
    }


def run_pjsua2(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    workers = math.ceil(args.calls / CALLS_PER_PJSUA2_PROCESS)
    recdir = workdir / "rec"
    recdir.mkdir()
    scenario = scenario_for(to_ulaw(args.source, workdir), workdir)
    life = args.hold + args.calls / args.rate + 40
    procs: list[subprocess.Popen[Any]] = []
    try:
        for i in range(workers):
            procs.append(
                subprocess.Popen(
                    [
                        PYTHON,
                        str(HERE / "pj_ua.py"),
                        "--port",
                        str(5200 + i),
                        "--rtp",
                        str(20000 + 40 * i),
                        "--max-calls",
                        str(args.max_calls),
                        "--recdir",
                        str(recdir),
                        "--poll-ms",
                        str(args.poll_ms),
                        "--jb-ms",
                        str(args.jb_ms),
                        "--max-seconds",
                        str(life),
                        "--ready",
                        str(workdir / f"ready-{i}"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        wait_for_files([workdir / f"ready-{i}" for i in range(workers)], 30)
        pids = [p.pid for p in procs]
        idle = measure(pids, 3)
        callers = []
        for i in range(workers):
            n = min(CALLS_PER_PJSUA2_PROCESS, args.calls - i * CALLS_PER_PJSUA2_PROCESS)
            callers.append(
                sipp(
                    f"127.0.0.1:{5200 + i}",
                    scenario,
                    calls=n,
                    rate=args.rate / workers,
                    hold_s=args.hold,
                    port=7000 + i,
                    media_port=40000 + 100 * i,
                    workdir=workdir,
                )
            )
        time.sleep(args.calls / args.rate + 3)
        loaded = measure(pids, args.window, [c.pid for c in callers])
        results = [sipp_result(c) for c in callers]
    finally:
        stop(procs)
    stats = [
        json.loads(line[6:])
        for p in procs
        for line in (p.stderr.read() if p.stderr else "").splitlines()
        if line.startswith("STATS ")
    ]
    return summarise(args, "pjsua2", workers, idle, loaded, results, sorted(recdir.glob("*.wav")), stats)


BARESIP_CONFIG = """\
sip_listen 127.0.0.1:5300
call_max_calls {max_calls}
audio_source aufile,{prompt}
audio_alert  aufile,{prompt}
rtp_ports 21000-29999
module_path /usr/lib/baresip/modules
module g711.so
module sndfile.so
module aufile.so
module_tmp uuid.so
module_tmp account.so
module_app menu.so
snd_path {recdir}
statmode_default off
"""


def prompt_repeats(args: argparse.Namespace) -> int:
    """Repeats of the source so the prompt outlasts the longest call (aufile keeps it all in memory)."""
    seconds = float(subprocess.run(["soxi", "-D", str(args.source)], capture_output=True, text=True).stdout)
    return math.ceil((args.hold + args.calls / args.rate + 15) / seconds)


def run_baresip(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    recdir = workdir / "rec"
    recdir.mkdir()
    scenario = scenario_for(to_ulaw(args.source, workdir), workdir)
    # aufile hangs the call up at the end of the prompt: make it longer than any call (a known 1.0.0 pitfall).
    prompt = workdir / "prompt-long.wav"
    subprocess.run(["sox", str(args.source), str(prompt), "repeat", str(prompt_repeats(args))], check=True)
    confdir = workdir / "baresip"
    confdir.mkdir()
    (confdir / "config").write_text(BARESIP_CONFIG.format(max_calls=args.max_calls, prompt=prompt, recdir=recdir))
    (confdir / "accounts").write_text("<sip:ua@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU,PCMA\n")
    life = int(args.hold + args.calls / args.rate + 40)
    proc = subprocess.Popen(
        ["baresip", "-f", str(confdir), "-t", str(life)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(2)
        idle = measure([proc.pid], 3)
        caller = sipp(
            "127.0.0.1:5300",
            scenario,
            calls=args.calls,
            rate=args.rate,
            hold_s=args.hold,
            port=7000,
            media_port=40000,
            workdir=workdir,
        )
        time.sleep(args.calls / args.rate + 3)
        loaded = measure([proc.pid], args.window, [caller.pid])
        results = [sipp_result(caller)]
    finally:
        stop([proc])
    return summarise(args, "baresip", 1, idle, loaded, results, sorted(recdir.glob("*-dec.wav")), [])


def summarise(
    args: argparse.Namespace,
    stack: str,
    processes: int,
    idle: dict[str, float],
    loaded: dict[str, float],
    results: list[tuple[int, int, list[str]]],
    recordings: list[Path],
    stats: list[dict[str, int]],
) -> dict[str, Any]:
    ok = sum(r[0] for r in results)
    failed = sum(r[1] for r in results)
    codes = sorted({c for r in results for c in r[2]})
    qualities = [compare(path, args.source).as_dict() for path in recordings]
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        for path in recordings:
            shutil.copy(path, args.keep / path.name)
    snrs = [q["snr_db_median"] for q in qualities]
    worst = [q["snr_db_p10"] for q in qualities]
    up = max(args.calls, 1)
    low_blocks = sum(q["blocks_below_20db"] for q in qualities)
    return {
        "stack": stack,
        "calls_offered": args.calls,
        "processes": processes,
        "max_calls_setting": args.max_calls,
        "hold_s": args.hold,
        "poll_ms": args.poll_ms,
        "jb_ms": args.jb_ms,
        "rate_cps": args.rate,
        "calls_ok": ok,
        "calls_failed": failed,
        "failure_codes": codes,
        "idle": idle,
        "loaded": loaded,
        "cpu_pct_per_call": round((loaded["cpu_pct_of_core"] - idle["cpu_pct_of_core"]) / up, 3),
        "pss_mb_per_call": round((loaded["pss_mb"] - idle["pss_mb"]) / up, 3),
        "recordings": len(recordings),
        "snr_db_median": round(statistics.median(snrs), 2) if snrs else None,
        "snr_db_worst_call_p10": round(min(worst), 2) if worst else None,
        "gain_db_median": round(statistics.median(q["gain_db"] for q in qualities), 2) if qualities else None,
        "blocks_below_20db_pct": round(100 * low_blocks / max(sum(q["blocks"] for q in qualities), 1), 2),
        "calls_with_blocks_below_20db": sum(q["blocks_below_20db"] > 0 for q in qualities),
        "silent_fraction_max": max((q["silent_fraction"] for q in qualities), default=None),
        "durations_s": sorted({round(q["duration_s"], 1) for q in qualities}),
        "worker_stats": stats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack", choices=["pjsua2", "baresip", "refusal"])
    parser.add_argument("--calls", type=int, default=8)
    parser.add_argument("--hold", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=8.0)
    parser.add_argument("--max-calls", type=int, default=4)
    parser.add_argument("--poll-ms", type=int, default=100)
    parser.add_argument("--jb-ms", type=int, default=-1, help="pjsua2 fixed jitter-buffer prefetch")
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--keep", type=Path, default=None, help="copy the recordings here")
    args = parser.parse_args()
    args.source = args.source.resolve()
    with tempfile.TemporaryDirectory(prefix="media-bench-") as tmp:
        workdir = Path(tmp)
        if args.stack == "refusal":
            # All calls to ONE pjsua2 process, whatever --max-calls says: where does it refuse?
            result = run_refusal(args, workdir, args.calls)
        elif args.stack == "pjsua2":
            result = run_pjsua2(args, workdir)
        else:
            result = run_baresip(args, workdir)
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")


def run_refusal(args: argparse.Namespace, workdir: Path, calls: int) -> dict[str, Any]:
    scenario = scenario_for(to_ulaw(args.source, workdir), workdir)
    proc = subprocess.Popen(
        [
            PYTHON,
            str(HERE / "pj_ua.py"),
            "--port",
            "5200",
            "--rtp",
            "20000",
            "--max-calls",
            str(args.max_calls),
            "--max-seconds",
            str(args.hold + 40),
            "--ready",
            str(workdir / "ready"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_files([workdir / "ready"], 30)
        caller = sipp(
            "127.0.0.1:5200",
            scenario,
            calls=calls,
            rate=args.rate,
            hold_s=args.hold,
            port=7000,
            media_port=40000,
            workdir=workdir,
        )
        ok, failed, codes = sipp_result(caller)
    finally:
        stop([proc])
    stats = [
        json.loads(line[6:])
        for line in (proc.stderr.read() if proc.stderr else "").splitlines()
        if line.startswith("STATS ")
    ]
    return {
        "stack": "pjsua2",
        "max_calls_setting": args.max_calls,
        "offered_at_once": calls,
        "calls_ok": ok,
        "calls_failed": failed,
        "failure_codes": sorted(set(codes)),
        "worker_stats": stats,
    }


if __name__ == "__main__":
    main()
