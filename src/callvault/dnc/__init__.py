"""Do not annoy: do-not-call entries, marketing consent and the `call_permitted` check."""
