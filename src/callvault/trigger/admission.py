"""Overload control of the trigger API: a bounded number of orders in progress per server process.

Past its capacity a process that takes every order only builds a queue: every order waits longer, none is served
faster. An order beyond `trigger_max_in_flight` is therefore refused at once with 503 and `Retry-After`, before
its body is read, its signature checked or its Idempotency-Key reserved: nothing of it reaches the database, so
the institution retries later with the same key and the same body as if the first attempt had never arrived.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request, Response

from callvault.api import CallVaultRoute, problem

_STATE_KEY = "trigger_admission"


class InFlightLimit:
    """A counter of orders in progress with a ceiling; entering never waits."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._count = 0
        # Orders enter and leave on the event loop; the lock keeps the counter right if a process ever serves one
        # app from several loops (test clients in threads).
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        return self._count

    def try_enter(self) -> bool:
        with self._lock:
            if self._count >= self.limit:
                return False
            self._count += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._count -= 1


def limit_of(app: FastAPI) -> InFlightLimit:
    """The app's limit, made on first use from its settings (one per app, so one per server process)."""
    limit: InFlightLimit | None = getattr(app.state, _STATE_KEY, None)
    if limit is None:
        limit = InFlightLimit(app.state.settings.trigger_max_in_flight)
        setattr(app.state, _STATE_KEY, limit)
    return limit


def overloaded(request: Request) -> Response:
    retry_after = request.app.state.settings.trigger_retry_after_seconds
    return problem(
        request,
        status=503,
        code="overloaded",
        title="Too many orders in progress",
        detail=f"nothing of this order was stored: send it again after {retry_after} s with the same Idempotency-Key",
        headers={"Retry-After": str(retry_after)},
    )


class AdmittedRoute(CallVaultRoute):
    """`CallVaultRoute` behind the process's in-flight limit: the order holds its place until it is answered
    (its transaction ended and, for a failure, its nonce and answer stored)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            limit = limit_of(request.app)
            if not limit.try_enter():
                return overloaded(request)
            try:
                return await handler(request)
            finally:
                limit.leave()

        return route
