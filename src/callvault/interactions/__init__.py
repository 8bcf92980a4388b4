"""Call records: one interaction per call with its legs, and the call's encrypted recordings."""
