"""Hand-back of an institution's data (signed export) and its offboarding (crypto-shred, deletion, certificate)."""
