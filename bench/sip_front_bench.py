"""SIP front: digest REGISTERs per second through CallVault's Kamailio front, next to a baseline Kamailio in the
same run.

Ours: the rendered `kamailio_cfg` (HA1 looked up per request in the htable CallVault writes). Baseline: the same
configuration with the password as a constant in the script (the set-up measured in media-capacity.md), so the
difference is the cost of CallVault's table lookup and checks. Each round: SIPp sends N registrations with digest
authentication (challenge + authenticated REGISTER each) at a fixed rate; we time it and add up Kamailio's CPU.

    .venv/bin/python -m bench.sip_front_bench --registrations 300 --rate 150 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from tests.sipedge import sipp_scenarios

from callvault.sipedge.digest import ha1
from callvault.sipedge.directory import AgentCredential, DidRoute, Directory
from callvault.sipedge.kamailio_cfg import FrontConfig, render, write_all

REALM, USER, PASSWORD = "bench-bank", "alice", "bench-password-1"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [pid, *(int(p) for p in out)]


def _start(cfg: Path, run_dir: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        ["kamailio", "-DD", "-E", "-f", str(cfg), "-Y", str(run_dir), "-m", "64", "-M", "8"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ctl = f"unix:{run_dir / 'kamailio_ctl'}"
    for _ in range(200):
        if subprocess.run(["kamcmd", "-s", ctl, "core.uptime"], capture_output=True).returncode == 0:
            return process
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("kamailio did not start")


def _round(port: int, pids: list[int], workdir: Path, n: int, rate: int) -> tuple[float, int, int]:
    scenario = workdir / "register.xml"
    scenario.write_text(sipp_scenarios.register(f"{USER}@{REALM}", f"{USER}@127.0.0.1:5999", final=200))
    before = _cpu_ticks(pids)
    started = time.perf_counter()
    done = subprocess.run(
        [
            *("sipp", f"127.0.0.1:{port}", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(_free_port())),
            *("-m", str(n), "-r", str(rate), "-l", str(n), "-au", USER, "-ap", PASSWORD),
            *("-nostdin", "-timeout", "50s", "-trace_stat", "-stf", str(workdir / "stat.csv")),
        ],
        cwd=workdir,
        capture_output=True,
        timeout=60,
    )
    wall = time.perf_counter() - started
    rows = (workdir / "stat.csv").read_text().splitlines()
    header, last = rows[0].split(";"), rows[-1].split(";")
    ok = int(last[header.index("SuccessfulCall(C)")])
    (workdir / "stat.csv").unlink()
    del done
    return wall, ok, _cpu_ticks(pids) - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registrations", type=int, default=300)
    parser.add_argument("--rate", type=int, default=150, help="registrations started per second")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("kamailio") is None or shutil.which("sipp") is None:
        raise SystemExit("needs kamailio and sipp (Debian packages kamailio, sip-tester)")
    tick = os.sysconf("SC_CLK_TCK")
    workdir = Path(tempfile.mkdtemp(prefix="sip-front-bench-"))
    directory = Directory(
        agents=(
            *(AgentCredential(REALM, f"agent{i}", "0" * 32) for i in range(999)),
            AgentCredential(REALM, USER, ha1(USER, REALM, PASSWORD)),
        ),
        dids=(DidRoute("+861000000000", REALM, "ivr", "main"),),
    )
    results: dict[str, list[tuple[float, int, int]]] = {"CallVault front (HA1 table)": [], "baseline (constant)": []}
    fronts = {}
    for name in results:
        run_dir = workdir / ("ours" if "CallVault" in name else "baseline")
        config = FrontConfig("127.0.0.1", _free_port(), ("127.0.0.1:5999",), run_dir)
        write_all(config, directory)
        if "baseline" in name:
            text = render(config).replace(
                'if (!pv_www_authenticate("$td", "$var(ha1)", "1"))',
                f'if (!pv_www_authenticate("$td", "{PASSWORD}", "0"))',
            )
            (run_dir / "kamailio.cfg").write_text(text)
        process = _start(run_dir / "kamailio.cfg", run_dir)
        fronts[name] = (config.port, process, _children(process.pid))
    try:
        for _ in range(args.rounds):
            for name, (port, _, pids) in fronts.items():  # interleaved, so load changes hit both alike
                results[name].append(_round(port, pids, workdir, args.registrations, args.rate))
    finally:
        for _, process, _ in fronts.values():
            process.terminate()
            process.wait(10)
    print(
        f"{args.registrations} digest REGISTERs at {args.rate}/s, {args.rounds} rounds, load {os.getloadavg()[0]:.1f}"
    )
    print(f"{'front':<30} {'ok (median)':>12} {'wall s (median)':>16} {'kamailio CPU ms / 100 reg':>26}")
    for name, rounds in results.items():
        ok = statistics.median(r[1] for r in rounds)
        wall = statistics.median(r[0] for r in rounds)
        cpu = statistics.median(r[2] * 1000 / tick / args.registrations * 100 for r in rounds)
        print(f"{name:<30} {ok:>12.0f} {wall:>16.2f} {cpu:>26.1f}")


if __name__ == "__main__":
    main()
