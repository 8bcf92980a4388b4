"""CallVault: a contact-center platform that keeps each financial institution's data in its own vault."""

__version__ = "0.1.0"
