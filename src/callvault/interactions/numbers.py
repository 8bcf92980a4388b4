"""Numbers on call legs: taken from SIP URIs, normalised when they are phone numbers, and reduced to what rating
needs (destination type and a short prefix) without keeping more of the number than its masked form shows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import phonenumbers

from callvault.contacts.phones import PhoneRejected, PhoneType, normalise_phone

INTERNAL: Final = "internal"  # an extension or endpoint name: not a public number
INTERNATIONAL: Final = "international"
_URI_USER: Final = re.compile(r"^(?:sips?|tel):([^@;>]+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class LegNumber:
    """A leg's far-end number as stored (E.164 when it is a public number) and its rating attributes."""

    value: str
    is_phone: bool
    destination_type: str
    destination_prefix: str


def uri_user(uri: str) -> str:
    """The user part of a SIP/tel URI (``sip:+8613812348000@10.0.0.1`` -> ``+8613812348000``)."""
    text = uri.strip().strip("<>")
    match = _URI_USER.match(text)
    return (match.group(1) if match else text).strip()


def leg_number(uri_or_number: str) -> LegNumber | None:
    """Classify the number of a leg; None when the URI has no user part."""
    user = uri_user(uri_or_number)
    if not user:
        return None
    try:
        phone = normalise_phone(user)
    except PhoneRejected:
        return LegNumber(user, False, INTERNAL, "")
    return LegNumber(phone.e164, True, *_rating(phone.e164, phone.type))


def _rating(e164: str, kind: PhoneType) -> tuple[str, str]:
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return PhoneType.OTHER.value, ""
    cc = f"+{parsed.country_code}"
    national = str(parsed.national_number)
    if parsed.country_code != 86:
        return INTERNATIONAL, cc
    if kind is PhoneType.MOBILE:
        return kind.value, cc + national[:3]  # carrier segment (138, 186...)
    if kind is PhoneType.FIXED_LINE:
        area = phonenumbers.length_of_geographical_area_code(parsed) or 3
        return kind.value, cc + national[:area]
    if kind in (PhoneType.TOLL_FREE_400, PhoneType.TOLL_FREE_800):
        return kind.value, cc + national[:3]
    if kind is PhoneType.SERVICE_SHORT_CODE:
        return kind.value, cc + national[:2]
    return kind.value, cc
