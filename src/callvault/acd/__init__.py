"""Automatic call distribution: queues, skills, agent states and the per-institution routing owner."""
