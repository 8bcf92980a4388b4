"""Shared foundations: database, tenant context, ids, clock, errors, outbox and event bus."""
