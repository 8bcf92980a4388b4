"""`callvault worker`: runs only the loops, stops cleanly on SIGTERM; refuses to start with every loop off."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.fixtures import World


def _env(**over: str) -> dict[str, str]:
    return {**os.environ, "COLUMNS": "200", **over}


def test_worker_runs_the_loops_and_stops_cleanly_on_sigterm(world: World) -> None:
    slug = world.institution(roles=()).slug
    proc = subprocess.Popen(
        [sys.executable, "-m", "callvault", "worker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(CALLVAULT_SERVICES_TENANTS=slug, CALLVAULT_LOG_JSON="true"),
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while not any("services running" in line for line in lines):
        assert proc.poll() is None, "".join(lines)
        assert time.monotonic() < deadline, "the worker did not start"
        lines.append(proc.stdout.readline())
    assert "webhooks, trigger, campaigns, rating" in lines[-1]
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert '"event": "services stopped"' in out


def test_worker_refuses_to_start_without_any_loop() -> None:
    off = {f"CALLVAULT_SERVICE_{name}": "false" for name in ("WEBHOOKS", "TRIGGER", "CAMPAIGNS", "RATING")}
    done = subprocess.run(
        [sys.executable, "-m", "callvault", "worker"], capture_output=True, text=True, timeout=120, env=_env(**off)
    )
    assert done.returncode == 1 and "every service is disabled" in done.stderr
