"""Credentials calgate issues or checks itself: derived server keys, password hashes, API keys,
session tokens and OIDC ID-token verification."""
