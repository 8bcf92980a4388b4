"""Blind index (SEC-27)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callvault.security.vault import (
    BlindIndex,
    normalize_email,
    normalize_id_number,
    normalize_phone,
)
from tests.security.pii import CANARY_PHONE

from .conftest import TENANT_A, TENANT_B, make_keyring

KEYRING = make_keyring()
INDEX = BlindIndex(KEYRING)
mobiles = st.from_regex(r"\A1[3-9][0-9]{9}\Z")


@pytest.mark.sec("SEC-27")
@given(phone=mobiles)
def test_same_phone_in_two_tenants_gives_different_indexes(phone: str) -> None:
    a = INDEX.phone(phone, tenant_id=TENANT_A)
    b = INDEX.phone(phone, tenant_id=TENANT_B)
    assert a != b
    assert len(a) == 32
    assert a != hashlib.sha256(phone.encode()).digest()


@pytest.mark.sec("SEC-27")
@given(phone=mobiles)
def test_phone_spellings_normalise_to_one_index(phone: str) -> None:
    spellings = [
        phone,
        f"+86{phone}",
        f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}",
        f"0086-{phone}",
        f"86{phone}",
        f"{phone[:3]}-{phone[3:7]}-{phone[7:]}",
    ]
    indexes = {INDEX.phone(s, tenant_id=TENANT_A, scope="contact.phone") for s in spellings}
    assert len(indexes) == 1
    assert INDEX.matches(indexes.pop(), phone, tenant_id=TENANT_A, scope="contact.phone", normalizer=normalize_phone)


@pytest.mark.sec("SEC-27")
def test_scopes_are_separated_and_index_survives_data_key_rotation() -> None:
    keyring = make_keyring()
    index = BlindIndex(keyring)
    before = index.phone(CANARY_PHONE, tenant_id=TENANT_A, scope="contact.phone")
    assert before != index.phone(CANARY_PHONE, tenant_id=TENANT_A, scope="agent.phone")
    keyring.rotate(TENANT_A)
    assert index.phone(CANARY_PHONE, tenant_id=TENANT_A, scope="contact.phone") == before


def test_normalizers() -> None:
    assert normalize_phone("+86 138-1234-8000") == "+8613812348000"
    assert normalize_phone("138 1234 8000") == "+8613812348000"
    assert normalize_phone("0044 20 7946 0958") == "+442079460958"
    assert normalize_phone("010-12345678") == "01012345678"
    assert normalize_id_number(" 11010519900307123x ") == "11010519900307123X"
    assert normalize_id_number("110105-19900307-123X") == "11010519900307123X"
    assert normalize_email("  Alice@Example.COM ") == "alice@example.com"
    assert INDEX.id_number("11010519900307123x", tenant_id=TENANT_A) == INDEX.id_number(
        "11010519900307123X", tenant_id=TENANT_A
    )
