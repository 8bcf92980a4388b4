"""The ASGI application: API under /api/v1, health, metrics and a landing page."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from callvault import __version__
from callvault.acd.owner import AcdOwners
from callvault.api import UPLOAD_PATHS, api_router, check_route_policies, install_problem_handlers, mounted_routes
from callvault.config import Settings, get_settings
from callvault.contacts.import_views import resume_pending_uploads
from callvault.core.db import Database
from callvault.middleware import PlatformMiddleware
from callvault.migrations.runner import is_at_head
from callvault.services.loops import Services
from callvault.tenancy import service as tenancy
from callvault.web import pages
from callvault.web.console import check_console_policies

log = structlog.get_logger(__name__)

# Work started with the app once its routing owners run (e.g. the demo's load generator): given the app, it starts
# and returns the function that stops it, called when the server stops, before the owners write their last batch.
Companion = Callable[[FastAPI], Callable[[], None]]

LANDING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CallVault</title>
<style>body{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;color:#1b1f24}
code{background:#eef1f4;padding:.1rem .3rem;border-radius:3px}</style></head>
<body><h1>CallVault</h1>
<p>Contact-center platform for financial institutions, version {version}.</p>
<ul><li>API: <a href="/api/v1/openapi.json"><code>/api/v1/openapi.json</code></a> (OpenAPI 3.1)</li>
<li>Console: <a href="/login">sign in</a></li>
<li>Health: <a href="/healthz"><code>/healthz</code></a>, <a href="/readyz"><code>/readyz</code></a>,
metrics: <a href="/metrics"><code>/metrics</code></a></li></ul>
</body></html>"""


def create_app(
    settings: Settings | None = None, *, db: Database | None = None, companions: Sequence[Companion] = ()
) -> FastAPI:
    settings = settings or get_settings()
    database = db or Database(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        def recover() -> int:
            with database.scoped() as session:
                return database.relay.recover(session, tenancy.all_tenant_ids(session))

        delivered = await run_in_threadpool(recover)
        if delivered:
            log.info("delivered outbox events left from a previous run", count=delivered)
        resumed = await run_in_threadpool(resume_pending_uploads, database)
        if resumed:
            log.info("resumed list imports interrupted by the previous run", count=resumed)
        stop_watching = _start_dropbox_watcher(settings, database)
        acd_owners.start()
        services = _start_services(settings, database, acd_owners)
        _app.state.services = services
        stops = [start(_app) for start in companions]
        yield
        for stop in reversed(stops):
            await run_in_threadpool(stop)
        if services is not None:
            await run_in_threadpool(services.host.stop)
        acd_owners.stop()
        stop_watching.set()
        database.dispose()

    app = FastAPI(
        title="CallVault API",
        version=__version__,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        description="Multi-institution contact-center platform. Errors are RFC 9457 problem+json.",
    )
    app.state.db = database
    # Routing owners are built on first use, so an app started without its lifespan (tests) still routes.
    app.state.acd = acd_owners = AcdOwners(database)
    app.state.settings = settings
    install_problem_handlers(app)
    app.include_router(api_router())
    for router in pages.routers():
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=Path(pages.__file__).parent / "static"), name="static")
    _add_platform_routes(app, database)
    check_route_policies(app)
    check_console_policies([(m.path, m.route) for m in mounted_routes(app)])
    app.add_middleware(
        PlatformMiddleware,
        max_body_bytes=settings.max_body_bytes,
        hsts=settings.cookie_secure,
        upload_paths=UPLOAD_PATHS,
        max_upload_bytes=settings.max_upload_bytes,
    )
    return app


def _start_dropbox_watcher(settings: Settings, database: Database) -> threading.Event:
    """Poll the institutions' drop directories in a background thread (unless `dropbox_poll_seconds` is 0)."""
    from callvault.contacts import dropbox

    stop = threading.Event()
    if settings.dropbox_poll_seconds > 0:
        threading.Thread(
            target=dropbox.watch,
            kwargs={
                "db": database,
                "data_dir": settings.data_dir,
                "settle_seconds": settings.dropbox_settle_seconds,
                "interval": settings.dropbox_poll_seconds,
                "stop": stop,
            },
            name="dropbox-watch",
            daemon=True,
        ).start()
    return stop


def _start_services(settings: Settings, database: Database, owners: AcdOwners) -> Services | None:
    """The background loops (webhooks, trigger worker, campaigns, rating, inbound calls on the sip engine)
    unless `services` is off."""
    if not settings.services:
        return None
    from callvault.services.loops import build_services

    services = build_services(settings, database, owners=owners)
    services.host.start()
    return services


def _add_platform_routes(app: FastAPI, database: Database) -> None:
    @app.get("/", include_in_schema=False)
    def landing() -> HTMLResponse:
        return HTMLResponse(LANDING.replace("{version}", __version__))

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        try:
            database.ping()
            ready = is_at_head(database.engine)
        except Exception:
            log.warning("readiness check failed", exc_info=True)
            ready = False
        body = {"status": "ready" if ready else "not ready"}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics(_request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def run_server(
    settings: Settings, db: Database, *, host: str | None, port: int | None, companions: Sequence[Companion] = ()
) -> None:
    """Serve the app with uvicorn, logging through CallVault's redacting JSON logger."""
    import uvicorn

    from callvault.logging import configure

    configure(level=settings.log_level, json=settings.log_json)
    uvicorn.run(
        create_app(settings, db=db, companions=companions),
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        access_log=False,
    )
