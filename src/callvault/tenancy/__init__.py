"""Institutions (tenants) and the operator that serves them."""
