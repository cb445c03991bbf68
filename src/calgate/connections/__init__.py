"""Calendar connections (issue #5): connect with OAuth (authorization code + PKCE), vend
access tokens to apps (R10), refresh single-flight across processes, detect dead grants,
remove integrations (R6), guard writes by policy (R7), keep idle grants alive."""

from calgate.connections.guard import ensure_write_allowed
from calgate.connections.service import Connections

__all__ = ["Connections", "ensure_write_allowed"]
