"""Which processes carry inbound calls: only one that routes (has the ACD owners) and has a real engine."""

from __future__ import annotations

from callvault.acd.owner import AcdOwners
from callvault.config import Settings
from callvault.core.db import Database
from callvault.services.calls import SipCalls
from callvault.services.loops import build_services


def test_the_routing_process_serves_inbound_calls_on_a_sip_engine_of_its_own_beside_simulated_outbound(
    settings: Settings, db: Database
) -> None:
    configured = settings.model_copy(update={"sip_front": "127.0.0.1:5999", "sip_port": 5998})
    services = build_services(configured, db, owners=AcdOwners(db))
    assert services.inbound is not None and "inbound" in services.host.names
    calls = services.inbound.calls
    assert isinstance(calls, SipCalls) and (calls.front, calls.sip_port) == ("127.0.0.1:5999", 5998)
    assert services.trigger is not None and services.trigger.engine is not calls  # outbound stays simulated


def test_no_inbound_without_owners_or_without_a_real_engine(settings: Settings, db: Database) -> None:
    configured = settings.model_copy(update={"sip_front": "127.0.0.1:5999"})
    assert build_services(configured, db).inbound is None  # `callvault worker`: it does not route
    assert build_services(settings.model_copy(update={"sip_front": ""}), db, owners=AcdOwners(db)).inbound is None
    on_sip = settings.model_copy(update={"telephony_engine": "sip", "sip_front": ""})
    services = build_services(on_sip, db, owners=AcdOwners(db))
    assert services.inbound is not None and services.trigger is not None
    assert services.inbound.calls is services.trigger.engine  # one engine for both directions
    disabled = on_sip.model_copy(update={"service_inbound": False})
    assert build_services(disabled, db, owners=AcdOwners(db)).inbound is None
