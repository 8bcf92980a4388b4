"""Outbound campaigns: strategy, life cycle, cost control and the campaign runner."""
