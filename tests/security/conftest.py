"""Shared fixtures for the security primitives: a fresh keyring with two provisioned tenants."""

from __future__ import annotations

import secrets

import pytest
from hypothesis import settings

from callvault.security.vault import InMemoryKeyStore, Keyring, MasterKey

TENANT_A = "inst-a"
TENANT_B = "inst-b"


def make_keyring() -> Keyring:
    """A keyring on a random master key with tenants A and B provisioned."""
    keyring = Keyring(MasterKey(secrets.token_bytes(32)), InMemoryKeyStore())
    keyring.provision(TENANT_A)
    keyring.provision(TENANT_B)
    return keyring


@pytest.fixture
def keyring() -> Keyring:
    return make_keyring()


# Shared CI machines are slow and noisy: no per-example deadline (no timed assertions in tests).
settings.register_profile("callvault-security", deadline=None)
settings.load_profile("callvault-security")
