"""Call records type destinations with the contacts' phone types; rating must see the tariff's names for them."""

from __future__ import annotations

from callvault.billing.legs import tariff_number_type
from callvault.billing.rating import NUMBER_TYPES
from callvault.contacts.phones import PhoneType

# Types no tariff names: they are priced by the tariff's `*` rate.
PRICED_BY_CATCH_ALL = {PhoneType.SHARED_COST, PhoneType.OTHER}


def test_every_phone_type_maps_to_a_tariff_type_or_the_catch_all() -> None:
    for phone_type in PhoneType:
        mapped = tariff_number_type(phone_type.value)
        assert (mapped in NUMBER_TYPES) != (phone_type in PRICED_BY_CATCH_ALL), phone_type


def test_toll_free_and_service_codes_take_the_tariff_names() -> None:
    assert tariff_number_type("toll_free_400") == tariff_number_type("toll_free_800") == "toll_free"
    assert tariff_number_type("service_short_code") == "short_code"
    assert tariff_number_type("mobile") == "mobile" and tariff_number_type("") == ""
