"""The canary scan itself: it finds canary values however they are written, and fails a run that leaks one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.canary import find_canaries
from tests.security.pii import CANARY_CARD, CANARY_ID, CANARY_PHONE

REPO = Path(__file__).resolve().parents[1]


def test_canaries_are_found_in_any_spelling() -> None:
    assert find_canaries(f"call {CANARY_PHONE[:3]} {CANARY_PHONE[3:7]}-{CANARY_PHONE[7:]} now") == [CANARY_PHONE]
    assert find_canaries(CANARY_ID.lower()) == [CANARY_ID]
    assert find_canaries(f'{{"card": "{CANARY_CARD}"}}') == [CANARY_CARD.replace(" ", "")]
    assert find_canaries("138****5678 [phone] [card] 2026-12-01T08:00:00Z") == []


def test_a_leaking_run_fails_naming_where(tmp_path: Path) -> None:
    (tmp_path / "test_leak.py").write_text(
        "import logging\n\n\n"
        "def test_quiet() -> None:\n    print('nothing to see')\n\n\n"
        "def test_leak() -> None:\n"
        f"    logging.getLogger('callvault.contacts').info('dialling %s', {CANARY_PHONE!r})\n"
        f"    print('card', {CANARY_CARD!r})\n",
        encoding="utf-8",
    )
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "tests.canary",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "--rootdir",
        str(tmp_path),
        str(tmp_path / "test_leak.py"),
    ]
    env = {**os.environ, "CALLVAULT_CANARY": "1", "PYTHONPATH": str(REPO)}
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "2 passed" in run.stdout
    assert "log record callvault.contacts during" in run.stdout and "test_leak" in run.stdout
    assert "test_leak.py::test_leak (call)" in run.stdout
    clean = subprocess.run(
        [*cmd[:-1], "-k", "quiet", str(tmp_path / "test_leak.py")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert clean.returncode == 0 and "canary scan:" in clean.stdout
