"""The institution look-up client against a real HTTP server that checks the signature itself."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time

import pytest

from callvault.ivr.lookup import LookupClient, LookupCredentials, LookupFailed
from tests.ivr.institution import KEY_ID, SECRET, institution_server

CREDENTIALS = LookupCredentials(KEY_ID, SECRET)
PAYLOAD = {"card_last4": "6217", "caller": "+8613800138000"}


async def _ask(
    url: str, *, limit: float = 2.0, credentials: LookupCredentials = CREDENTIALS, insecure: bool = True
) -> dict[str, object]:
    client = LookupClient(credentials, allow_insecure=insecure)
    try:
        return await client.lookup(url, PAYLOAD, limit=limit)  # type: ignore[arg-type]
    finally:
        await client.aclose()


def test_signed_request_and_flat_answer() -> None:
    with institution_server() as bank:
        answer = asyncio.run(_ask(bank.url + "/balance?channel=ivr"))
        assert answer == {"balance": "1234.50", "tier": "vip", "name": "Z"}
        assert bank.seen[0].signature_ok
        assert bank.seen[0].body == PAYLOAD


def test_wrong_secret_is_refused_by_the_institution() -> None:
    with institution_server() as bank:
        with pytest.raises(LookupFailed) as caught:
            asyncio.run(_ask(bank.url + "/balance", credentials=LookupCredentials(KEY_ID, "wrong")))
        assert caught.value.reason == "status"
        assert not bank.seen[0].signature_ok


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/error", "status"),
        ("/garbage", "garbage"),
        ("/nested", "garbage"),
        ("/huge", "too_large"),
        ("/redirect", "status"),
    ],
)
def test_bad_answers_fail_with_a_reason(path: str, reason: str) -> None:
    with institution_server() as bank:
        with pytest.raises(LookupFailed) as caught:
            asyncio.run(_ask(bank.url + path))
        assert caught.value.reason == reason


def test_slow_institution_fails_within_the_limit() -> None:
    with institution_server() as bank:
        bank.delay = 3.0
        started = time.monotonic()
        with pytest.raises(LookupFailed) as caught:
            asyncio.run(_ask(bank.url + "/slow", limit=0.5))
        elapsed = time.monotonic() - started
    assert caught.value.reason == "timeout"
    assert elapsed < 1.5


def test_institution_down() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(LookupFailed) as caught:
        asyncio.run(_ask(f"http://127.0.0.1:{port}/balance"))
    assert caught.value.reason == "unreachable"


def test_failures_are_logged_without_customer_data(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    with institution_server() as bank, pytest.raises(LookupFailed):
        asyncio.run(_ask(bank.url + "/error"))
    logged = caplog.text + "".join(capsys.readouterr())
    assert "ivr lookup failed" in logged
    for value in (*PAYLOAD.values(), SECRET, json.dumps(PAYLOAD)):
        assert value not in logged


@pytest.mark.parametrize(
    "url",
    [
        "http://203.0.113.10/balance",  # plain HTTP: customer data only over TLS
        "https://127.0.0.1/balance",
        "https://10.1.2.3/balance",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/balance",
        "https://localhost/balance",
    ],
)
def test_lookups_go_only_over_https_to_public_addresses(url: str) -> None:
    with pytest.raises(LookupFailed) as caught:
        asyncio.run(_ask(url, insecure=False))
    assert caught.value.reason == "forbidden"
