"""The encrypted columns of the contacts domain (see `callvault.security.sensitive`)."""

from __future__ import annotations

from typing import Final

from callvault.security.masking import DataClass
from callvault.security.sensitive import SensitiveColumn

REVEAL: Final = "contact.reveal"
CONTACTS: Final = "contacts"
PHONES: Final = "contact_phones"
# Blind-index scopes: the same value gives unrelated indexes in different scopes and tenants.
PHONE_SCOPE: Final = "contacts.phone"
ID_NUMBER_SCOPE: Final = "contacts.id_number"

NAME: Final = SensitiveColumn(CONTACTS, "name", "name_ct", DataClass.NAME, REVEAL)
ID_NUMBER: Final = SensitiveColumn(
    CONTACTS, "id_number", "id_number_ct", DataClass.ID_NUMBER, REVEAL, "id_number_bidx", ID_NUMBER_SCOPE
)
CARD_NUMBER: Final = SensitiveColumn(CONTACTS, "card_number", "card_number_ct", DataClass.BANK_CARD, REVEAL)
# Custom fields the list marks sensitive, encrypted together as one JSON object.
CUSTOM_SENSITIVE: Final = SensitiveColumn(CONTACTS, "custom_sensitive", "custom_sensitive_ct", None, REVEAL)
PHONE: Final = SensitiveColumn(PHONES, "e164", "e164_ct", DataClass.PHONE, REVEAL, "e164_bidx", PHONE_SCOPE)

CONTACT_COLUMNS: Final = (NAME, ID_NUMBER, CARD_NUMBER, CUSTOM_SENSITIVE, PHONE)
# Fields of a contact that can be revealed through the API.
REVEALABLE: Final = {
    "name": NAME,
    "id_number": ID_NUMBER,
    "card_number": CARD_NUMBER,
    "custom": CUSTOM_SENSITIVE,
    "phones": PHONE,
}
