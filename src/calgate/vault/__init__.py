"""The credential vault: envelope encryption (AES-256-GCM) of every secret calgate stores,
with versioned keys, online rotation and crypto-shredding. See :mod:`calgate.vault.base`."""

from calgate.vault.base import CredentialVault, KeyWrapper, Secret, SecretContext
from calgate.vault.service import EnvelopeVault

__all__ = ["CredentialVault", "EnvelopeVault", "KeyWrapper", "Secret", "SecretContext"]
