"""Runs Debian's Kamailio as CallVault's SIP front: a supervised child process fed from the database.

`KamailioFront.start` writes the configuration and tables (`kamailio_cfg`), starts ``kamailio`` in the
foreground bound to the configured address and port only, and waits for its control socket. A front that dies
is started again by the supervisor thread; `reload` rewrites the tables from the database and makes the running
Kamailio load them (new DIDs, phones, passwords) without dropping registrations; `stop` ends it (SIGTERM, then
SIGKILL after a grace period).
"""

from __future__ import annotations

import ctypes
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import structlog

from callvault.core.db import Database
from callvault.sipedge import directory
from callvault.sipedge.kamailio_cfg import TABLES, FrontConfig, write_all, write_tables

log = structlog.get_logger(__name__)
PR_SET_PDEATHSIG = 1  # prctl(2)


class FrontError(RuntimeError):
    """Kamailio is missing, refused its configuration, or did not come up."""


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the thread that started it ends, so a CallVault process killed
    without its clean-up (SIGKILL, a re-raised SIGTERM after the web server's shutdown) leaves no Kamailio behind."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def kamailio_binary() -> str | None:
    return shutil.which("kamailio") or ("/usr/sbin/kamailio" if Path("/usr/sbin/kamailio").exists() else None)


class KamailioFront:
    """One supervised Kamailio process serving ``config`` from ``db``."""

    def __init__(self, config: FrontConfig, db: Database, *, shared_memory_mb: int = 64) -> None:
        binary = kamailio_binary()
        if binary is None:
            raise FrontError("kamailio is not installed (Debian package kamailio)")
        self.config, self.db, self.binary = config, db, binary
        self.shared_memory_mb = shared_memory_mb
        self.restarts = 0
        self.counts: dict[str, int] = {}
        self._aors: set[str] = set()  # the phones of the tables last loaded: who may hold a registration
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None

    @property
    def cfg_path(self) -> Path:
        return self.config.run_dir / "kamailio.cfg"

    @property
    def log_path(self) -> Path:
        return self.config.run_dir / "kamailio.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self, *, timeout: float = 15.0) -> None:
        loaded = directory.load(self.db)
        self._aors = {f"{a.username}@{a.tenant}" for a in loaded.agents}
        self.counts = write_all(self.config, loaded)
        check = subprocess.run(  # noqa: S603 - fixed argv: kamailio and our own file
            [self.binary, "-c", "-f", str(self.cfg_path)], capture_output=True, timeout=30
        )
        if check.returncode != 0:
            raise FrontError(f"kamailio refused its configuration: {check.stderr.decode(errors='replace')[-500:]}")
        self._spawn(timeout)
        self._watcher = threading.Thread(target=self._supervise, name="sip-front", daemon=True)
        self._watcher.start()

    def _spawn(self, timeout: float) -> None:
        ctl = self.config.run_dir / "kamailio_ctl"
        ctl.unlink(missing_ok=True)
        self._log = self.log_path.open("ab")
        command = [
            *(self.binary, "-DD", "-E", "-f", str(self.cfg_path), "-Y", str(self.config.run_dir)),
            *("-m", str(self.shared_memory_mb), "-M", "8"),
        ]
        with self._lock:
            self._process = subprocess.Popen(  # noqa: S603 - fixed argv: kamailio and our own files
                command, stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            )
        deadline = time.monotonic() + timeout
        while not self._rpc_ok("core.uptime"):
            if self._process.poll() is not None:
                raise FrontError(f"kamailio exited with {self._process.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                self.stop()
                raise FrontError(f"kamailio did not answer on its control socket within {timeout}s")
            time.sleep(0.05)
        log.info("sip_front.started", pid=self._process.pid, port=self.config.port, **self.counts)

    def _supervise(self) -> None:
        """Start Kamailio again if it dies (anything but our own stop)."""
        while not self._stopping.is_set():
            process = self._process
            if process is not None and process.poll() is not None and not self._stopping.is_set():
                log.warning("sip_front.died", returncode=process.returncode)
                self.restarts += 1
                try:
                    self._spawn(15.0)
                except FrontError as exc:
                    log.error("sip_front.restart_failed", error=str(exc))
                    self._stopping.wait(1.0)
            self._stopping.wait(0.2)

    def rpc(self, *args: str) -> str:
        """A command on Kamailio's control socket (kamcmd), e.g. ``ul.dump``; returns its output."""
        kamcmd = shutil.which("kamcmd") or "/usr/sbin/kamcmd"
        result = subprocess.run(  # noqa: S603 - fixed argv: kamcmd and our own socket
            [kamcmd, "-s", f"unix:{self.config.run_dir / 'kamailio_ctl'}", *args],
            capture_output=True,
            timeout=10,
        )
        if result.returncode != 0:
            raise FrontError(f"kamcmd {' '.join(args)}: {result.stderr.decode(errors='replace').strip()}")
        return result.stdout.decode(errors="replace")

    def _rpc_ok(self, *args: str) -> bool:
        try:
            self.rpc(*args)
        except (FrontError, subprocess.TimeoutExpired):
            return False
        return True

    def reload(self) -> dict[str, int]:
        """Rewrite the tables from the database and load them into the running front.

        Phones that left the table (disabled, deleted, institution suspended) also lose their registration at once:
        otherwise calls would still reach them until their registration expires (up to 600 s)."""
        loaded = directory.load(self.db)
        self.counts = write_tables(loaded, self.config.run_dir / "db")
        for table in TABLES:
            self.rpc("htable.reload", table)
        current = {f"{a.username}@{a.tenant}" for a in loaded.agents}
        for aor in sorted(self._aors - current):
            self._rpc_ok("ul.rm", "location", aor)  # fails harmlessly when the phone was not registered
        self._aors = current
        return self.counts

    def stop(self, *, grace: float = 5.0) -> int | None:
        """End Kamailio (SIGTERM, SIGKILL after ``grace`` seconds); returns its exit code."""
        self._stopping.set()
        with self._lock:
            process = self._process
        code = None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(grace)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            code = process.returncode
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(5)
        if self._log is not None:
            self._log.close()
        log.info("sip_front.stopped", returncode=code)
        return code
