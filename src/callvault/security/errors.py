"""Exceptions raised by the security primitives.

Messages name tenants, key versions, tables and columns but never a plaintext, key or ciphertext byte.
"""

from __future__ import annotations


class SecurityError(Exception):
    """Base class for every error raised by `callvault.security`."""


class VaultError(SecurityError):
    """Base class for vault (key management and encryption) errors."""


class VaultKeyError(VaultError):
    """A key could not be loaded, created or unwrapped (bad file, bad permissions, wrong master key)."""


class UnknownKey(VaultError):
    """No data key exists for the requested tenant, purpose or version."""


class KeyVersionConflict(VaultError):
    """A key with the same tenant, purpose and version already exists (concurrent rotation)."""


class KeyDestroyed(VaultError):
    """The tenant's keys were destroyed (crypto-shredded); its ciphertexts can never be decrypted again."""


class CiphertextTampered(VaultError):
    """A ciphertext failed authentication: modified, truncated, reordered or moved to another context."""


class SensitiveValueError(SecurityError, ValueError):
    """A value that looks like personal data was given where only non-sensitive values are allowed."""
