"""Overload control: past the process's limit of orders in progress an order is refused at once with 503
problem+json and Retry-After, before any database work, so a retry with the same Idempotency-Key (even the same
signed request) is a first attempt. Real concurrency: uvicorn serving the app in a thread, orders sent from
several threads, admitted orders held inside their transaction by an engine event until the test releases them."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event, func, select

from callvault.config import Settings
from callvault.core.db import Database
from callvault.identity.api_clients import signed_headers
from callvault.identity.models import ApiNonce, IdempotencyRecord
from callvault.main import create_app
from callvault.tenancy import service as tenancy
from callvault.trigger.admission import limit_of
from callvault.trigger.models import CallRequest
from tests.fixtures import World
from tests.serving import serve_in_thread
from tests.trigger.helpers import TRIGGER, Bank, bank, order

HOOK = "https://bank.example/hooks/calls"


class Watch:
    """One engine listener for the whole test (listeners must not change while a held thread runs them): holds every
    order that reaches its INSERT of the call request until `released` (the order is then really inside its
    transaction, its nonce and Idempotency-Key written), and records the statements run while `recording`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.released = threading.Event()
        self.held = 0
        self.recording = False
        self.seen: list[str] = []
        self._lock = threading.Lock()

    def _before(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if self.recording:
            self.seen.append(statement)
        if statement.lstrip().upper().startswith("INSERT INTO CALL_REQUESTS") and not self.released.is_set():
            with self._lock:
                self.held += 1
            assert self.released.wait(60), "never released"

    def __enter__(self) -> Watch:
        event.listen(self.db.engine, "before_cursor_execute", self._before)
        return self

    def __exit__(self, *_: Any) -> None:
        self.released.set()
        event.remove(self.db.engine, "before_cursor_execute", self._before)


def limited_app(settings: Settings, db: Database, limit: int) -> FastAPI:
    return create_app(
        settings.model_copy(update={"trigger_max_in_flight": limit, "trigger_retry_after_seconds": 2}), db=db
    )


def signed(b: Bank, key: str, body: bytes) -> dict[str, str]:
    headers = signed_headers(key_id=b.creds["key_id"], secret=b.creds["secret"], method="POST", path=TRIGGER, body=body)
    headers.update({"content-type": "application/json", "Idempotency-Key": key})
    return headers


def post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url + TRIGGER, content=body, headers=headers, timeout=60, trust_env=False)


def wait_until(check: Any, what: str) -> None:
    deadline = time.monotonic() + 30
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def assert_overloaded(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["retry-after"] == "2"
    problem = r.json()
    assert problem["type"] == "urn:callvault:problem:overloaded" and problem["status"] == 503
    assert problem["title"] and "same Idempotency-Key" in problem["detail"]


def stored(db: Database, b: Bank) -> tuple[list[str], set[str], int]:
    """References of the call requests, the institution's Idempotency-Keys, its nonces."""
    with db.scoped() as s:
        tenancy.bind(s, slug=b.slug)
        refs = sorted(s.scalars(select(CallRequest.reference)).all())
        keys = set(s.scalars(select(IdempotencyRecord.key)).all())
        nonces = s.scalar(select(func.count()).select_from(ApiNonce).where(ApiNonce.key_id == b.creds["key_id"]))
    return [r or "" for r in refs], keys, int(nonces or 0)


def test_an_order_past_the_limit_is_refused_before_any_database_work_and_its_retry_is_a_first_attempt(
    world: World, login: Any, settings: Settings, db: Database
) -> None:
    b = bank(world, login)
    app = limited_app(settings, db, 1)
    first_body = json.dumps(order(HOOK, reference="held")).encode()
    second_body = json.dumps(order(HOOK, reference="refused")).encode()
    second_headers = signed(b, "refused-key", second_body)
    with Watch(db) as hold, serve_in_thread(app) as url:
        first: list[httpx.Response] = []
        sender = threading.Thread(target=lambda: first.append(post(url, first_body, signed(b, "held-key", first_body))))
        sender.start()
        wait_until(lambda: hold.held == 1, "the first order to reach its insert")
        hold.recording = True
        refused = post(url, second_body, second_headers)
        hold.recording = False
        assert_overloaded(refused)
        assert hold.seen == [], hold.seen  # refused before any database work
        assert limit_of(app).in_flight == 1
        hold.released.set()
        sender.join(timeout=60)
        assert first and first[0].status_code == 202, first
        # The very same signed request again: its nonce was never spent, its key never reserved.
        retried = post(url, second_body, second_headers)
        assert retried.status_code == 202, retried.text
        assert retried.json()["reference"] == "refused"
        # From here on the key is used: a retry with it replays the answer and orders nothing more.
        replay = post(url, second_body, signed(b, "refused-key", second_body))
        assert replay.status_code == 202 and replay.headers.get("idempotent-replayed") == "true"
        assert replay.json() == retried.json()
        assert limit_of(app).in_flight == 0
    refs, keys, nonces = stored(db, b)
    assert refs == ["held", "refused"]
    assert {"held-key", "refused-key"} <= keys
    assert nonces == 3  # the held order, the admitted retry, the replay: none for the refused attempt


def test_reading_an_order_is_not_limited(world: World, login: Any, settings: Settings, db: Database) -> None:
    b = bank(world, login)
    app = limited_app(settings, db, 1)
    body = json.dumps(order(HOOK, reference="first")).encode()
    with serve_in_thread(app) as url:
        done = post(url, body, signed(b, "read-me", body))
        assert done.status_code == 202, done.text
        path = f"/api/v1/calls/{done.json()['id']}"
        with Watch(db) as hold:
            other = json.dumps(order(HOOK, reference="held")).encode()
            sender = threading.Thread(target=post, args=(url, other, signed(b, "held-key", other)))
            sender.start()
            wait_until(lambda: hold.held == 1, "the order to reach its insert")
            headers = signed_headers(key_id=b.creds["key_id"], secret=b.creds["secret"], method="GET", path=path)
            # Released a moment after the read is sent: SQLite's one writer (the held order) delays the read's
            # nonce, but the read is never refused for the limit.
            threading.Timer(0.3, hold.released.set).start()
            r = httpx.get(url + path, headers=headers, timeout=30, trust_env=False)
            assert r.status_code == 200 and r.json()["reference"] == "first", r.text
            sender.join(timeout=60)


def test_a_burst_past_the_limit_is_refused_whole_and_every_retry_with_its_key_orders_once(
    world: World, login: Any, settings: Settings, db: Database
) -> None:
    b = bank(world, login)
    limit, burst = 3, 20
    app = limited_app(settings, db, limit)
    bodies = {f"key-{i}": json.dumps(order(HOOK, reference=f"burst-{i}")).encode() for i in range(limit + burst)}
    held_keys, burst_keys = list(bodies)[:limit], list(bodies)[limit:]
    with serve_in_thread(app) as url, ThreadPoolExecutor(limit) as holders, ThreadPoolExecutor(burst) as pool:
        with Watch(db) as hold:
            # On SQLite the admitted orders behind the one held at its insert wait for the writer (up to the busy
            # timeout, 5 s): the burst below takes well under that.
            held = [holders.submit(lambda k: post(url, bodies[k], signed(b, k, bodies[k])), k) for k in held_keys]
            wait_until(lambda: limit_of(app).in_flight == limit and hold.held >= 1, "the limit to fill")
            gate = threading.Barrier(burst)

            def at_once(key: str) -> httpx.Response:
                headers = signed(b, key, bodies[key])
                gate.wait()
                return post(url, bodies[key], headers)

            refused = list(pool.map(at_once, burst_keys))
            hold.released.set()
            answers = [f.result() for f in held]
        for r in refused:
            assert_overloaded(r)
        assert [r.status_code for r in answers] == [202] * limit
        assert stored(db, b)[0] == sorted(f"burst-{i}" for i in range(limit))

        # Every refused order retried with its key, all at once, until accepted: under the same limit some are
        # refused again (and retried); none is refused for its key or ordered twice.
        def until_accepted(key: str) -> tuple[int, int]:
            refusals = 0
            for _ in range(200):
                r = post(url, bodies[key], signed(b, key, bodies[key]))
                if r.status_code == 202:
                    assert r.json()["reference"] == key.replace("key-", "burst-")
                    return r.status_code, refusals
                assert_overloaded(r)
                refusals += 1
                time.sleep(0.02)  # the test does not wait the full Retry-After
            return 503, refusals

        outcomes = list(pool.map(until_accepted, burst_keys))
        assert [status for status, _ in outcomes] == [202] * burst
        assert limit_of(app).in_flight == 0
    refs, keys, _ = stored(db, b)
    assert refs == sorted(f"burst-{i}" for i in range(limit + burst))
    assert set(bodies) <= keys
