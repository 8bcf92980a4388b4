"""Inbound calls on a telephony engine: the called number decides the institution and entry point, the IVR runs,
the ACD picks an agent, the agent's phone rings and the two are bridged (docs/inbound.md)."""
