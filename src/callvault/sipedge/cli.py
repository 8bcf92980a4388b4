"""`callvault sip-front`: run Kamailio as the SIP front (registrar for agent phones, dispatcher over workers)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("sip-front")
    def sip_front(
        worker: Annotated[
            list[str], typer.Option("--worker", help="a media worker's host:port (repeat for each worker)")
        ],
        address: Annotated[str, typer.Option(help="the one address Kamailio binds (never a wildcard)")] = "127.0.0.1",
        port: Annotated[int, typer.Option(min=1, max=65535, help="SIP port (UDP)")] = 5060,
        run_dir: Annotated[
            Path | None, typer.Option(file_okay=False, help="config, tables and log; default data_dir/sip-front")
        ] = None,
        reload_every: Annotated[
            float, typer.Option(min=0, help="seconds between table reloads from the database (0: only on SIGHUP)")
        ] = 30.0,
    ) -> None:
        """Serve the SIP edge until SIGTERM or Ctrl-C: DIDs to media workers, agent phones' registrations."""
        _run(worker, address, port, run_dir, reload_every)


def _run(workers: list[str], address: str, port: int, run_dir: Path | None, reload_every: float) -> None:
    from callvault.cli import _database, fail
    from callvault.config import get_settings
    from callvault.sipedge.front import FrontError, KamailioFront
    from callvault.sipedge.kamailio_cfg import FrontConfig

    if address in ("0.0.0.0", "::", ""):  # noqa: S104 - the refusal of a wildcard
        raise fail("bind the SIP front to one explicit address", code=2)
    directory = (run_dir or get_settings().data_dir / "sip-front").resolve()
    config = FrontConfig(address=address, port=port, workers=tuple(workers), run_dir=directory)
    try:
        front = KamailioFront(config, _database())
        front.start()
    except FrontError as exc:
        raise fail(str(exc), code=2) from None
    typer.echo(
        f"SIP front on udp:{address}:{port} (pid {front.pid}); {len(workers)} media worker(s); "
        f"{front.counts.get('dids', 0)} DID(s), {front.counts.get('agents', 0)} agent phone(s); files in {directory}"
    )
    stop, reload_now = threading.Event(), threading.Event()

    def _on_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    def _on_hup(_signum: int, _frame: FrameType | None) -> None:
        reload_now.set()

    signal.signal(signal.SIGTERM, _on_stop)
    signal.signal(signal.SIGINT, _on_stop)
    signal.signal(signal.SIGHUP, _on_hup)
    try:
        while not stop.wait(reload_every or 3600.0):
            if reload_now.is_set() or reload_every:
                reload_now.clear()
                try:
                    front.reload()
                except FrontError as exc:
                    typer.echo(f"reload failed: {exc}", err=True)
    finally:
        code = front.stop()
        typer.echo(f"SIP front stopped (kamailio exit code {code})")
