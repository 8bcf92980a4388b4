"""Signed webhooks (Standard Webhooks): deliveries kept in the database, retried with backoff, dead-lettered."""
